import type { Queryable } from '../../src/platform/db/database.js';

export interface InvariantViolation {
  rule: string;
  product_id: string;
  store_id: string;
  detail: string;
}

/**
 * The invariants of every stock level, checked straight in SQL:
 * 0 ≤ reserved ≤ on_hand; reserved = Σ PENDING reservations; on_hand = Σ ledger movements.
 */
export async function findInvariantViolations(db: Queryable): Promise<InvariantViolation[]> {
  const result = await db.query<InvariantViolation>(`
    WITH pending AS (
      SELECT tenant_id, product_id, store_id, sum(quantity) AS units
        FROM reservations WHERE status = 'PENDING' GROUP BY tenant_id, product_id, store_id
    ), ledger AS (
      SELECT tenant_id, product_id, store_id, sum(quantity_change) AS units
        FROM stock_movements GROUP BY tenant_id, product_id, store_id
    )
    SELECT 'reserved within 0..on_hand' AS rule, l.product_id::text, l.store_id,
           format('quantity=%s reserved=%s', l.quantity, l.reserved) AS detail
      FROM stock_levels l WHERE l.reserved < 0 OR l.reserved > l.quantity
    UNION ALL
    SELECT 'reserved = sum of pending reservations', l.product_id::text, l.store_id,
           format('reserved=%s pending=%s', l.reserved, COALESCE(p.units, 0))
      FROM stock_levels l LEFT JOIN pending p USING (tenant_id, product_id, store_id)
     WHERE l.reserved <> COALESCE(p.units, 0)
    UNION ALL
    SELECT 'on_hand = sum of movements', l.product_id::text, l.store_id,
           format('quantity=%s ledger=%s', l.quantity, COALESCE(m.units, 0))
      FROM stock_levels l LEFT JOIN ledger m USING (tenant_id, product_id, store_id)
     WHERE l.quantity <> COALESCE(m.units, 0)`);
  return result.rows;
}
