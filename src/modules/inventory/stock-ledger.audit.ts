import type { Database } from '../../platform/db/database.js';
import { newId } from '../../platform/ids.js';
import type { StockLevelRow } from './stock.repository.js';
import { recordLevelChanges } from './stock-change.recorder.js';

export interface LevelDrift {
  tenant_id: string;
  product_id: string;
  store_id: string;
  quantity: number;
  ledger_quantity: number;
  reserved: number;
  pending_reserved: number;
}

export interface LedgerAuditReport {
  levels_checked: number;
  drifts: LevelDrift[];
  repaired: number;
}

const REPAIR_REASON = 'LEDGER_REBUILD';
const AUDIT_ACTOR = 'system:stock-ledger-audit';

/**
 * Rebuilds every stock level from its sources of truth — on-hand from the movement ledger, reserved
 * from the PENDING reservations — and reports where the table disagrees. With `repair`, each drifting
 * level is set to its rebuilt values with a version bump and a `stock.updated` event (reason
 * LEDGER_REBUILD) that reports the correction; no ledger row is added, since the ledger is what the
 * level is rebuilt from.
 */
export async function auditStockLedger(
  database: Database,
  options: { repair: boolean },
): Promise<LedgerAuditReport> {
  // Every tenant's levels: the audit is one of the named cross-tenant jobs (ADR 0017).
  const everyTenant = database.system('stock-ledger-audit');
  const checked = await everyTenant.query<{ count: number }>('SELECT count(*) AS count FROM stock_levels');
  const drifts = await everyTenant.query<LevelDrift>(`
    WITH ledger AS (
      SELECT tenant_id, product_id, store_id, sum(quantity_change) AS units FROM stock_movements GROUP BY 1, 2, 3
    ), pending AS (
      SELECT tenant_id, product_id, store_id, sum(quantity) AS units FROM reservations WHERE status = 'PENDING' GROUP BY 1, 2, 3
    )
    SELECT l.tenant_id, l.product_id::text, l.store_id, l.quantity, COALESCE(m.units, 0)::bigint AS ledger_quantity,
           l.reserved, COALESCE(p.units, 0)::bigint AS pending_reserved
      FROM stock_levels l
      LEFT JOIN ledger m USING (tenant_id, product_id, store_id)
      LEFT JOIN pending p USING (tenant_id, product_id, store_id)
     WHERE l.quantity <> COALESCE(m.units, 0) OR l.reserved <> COALESCE(p.units, 0)
     ORDER BY l.tenant_id, l.product_id, l.store_id`);
  let repaired = 0;
  if (options.repair) {
    for (const drift of drifts.rows) {
      if (await repairLevel(database, drift)) repaired += 1;
    }
  }
  return { levels_checked: Number(checked.rows[0]?.count ?? 0), drifts: drifts.rows, repaired };
}

/** Re-checks the drift under the level's row lock, then sets the rebuilt values; false if it can't hold them. */
async function repairLevel(database: Database, drift: LevelDrift): Promise<boolean> {
  // A repair touches one tenant's level, so it runs bound to that tenant.
  return database.forTenant(drift.tenant_id).transaction(async (tx) => {
    const key = [drift.tenant_id, drift.product_id, drift.store_id];
    const locked = await tx.query<StockLevelRow>(
      `SELECT product_id, store_id, quantity, reserved, low_stock_threshold, sellable, version, updated_at
         FROM stock_levels WHERE tenant_id = $1 AND product_id = $2 AND store_id = $3 FOR UPDATE`,
      key,
    );
    const current = locked.rows[0];
    if (current === undefined) return false;
    const rebuilt = await tx.query<{ ledger: number; pending: number }>(
      `SELECT (SELECT COALESCE(sum(quantity_change), 0) FROM stock_movements
                WHERE tenant_id = $1 AND product_id = $2 AND store_id = $3)::bigint AS ledger,
              (SELECT COALESCE(sum(quantity), 0) FROM reservations
                WHERE tenant_id = $1 AND product_id = $2 AND store_id = $3 AND status = 'PENDING')::bigint AS pending`,
      key,
    );
    const { ledger, pending } = rebuilt.rows[0] as { ledger: number; pending: number };
    // The table's on-hand is kept when the ledger cannot hold the reserved units: a person decides then.
    if (pending > Math.max(ledger, 0) || ledger < 0) return false;
    const updated = await tx.query<StockLevelRow>(
      `UPDATE stock_levels SET quantity = $4, reserved = $5, version = version + 1, updated_at = now()
        WHERE tenant_id = $1 AND product_id = $2 AND store_id = $3
        RETURNING product_id, store_id, quantity, reserved, low_stock_threshold, sellable, version, updated_at`,
      [...key, ledger, pending],
    );
    const after = updated.rows[0] as StockLevelRow;
    await recordLevelChanges(tx, { tenantId: drift.tenant_id, correlationId: newId(), actor: AUDIT_ACTOR }, [
      {
        after,
        quantityChange: after.quantity - current.quantity,
        ledgered: false,
        reservedChange: after.reserved - current.reserved,
        reason: REPAIR_REASON,
        note: `on hand ${current.quantity} → ${after.quantity}, reserved ${current.reserved} → ${after.reserved}`,
      },
    ]);
    return true;
  });
}
