import type { Queryable, Statement } from '../../platform/db/database.js';
import type { LevelRef } from './stock.repository.js';

export interface MovementRow {
  id: string;
  product_id: string;
  store_id: string;
  quantity_change: number;
  quantity_after: number;
  reason: string;
  actor: string;
  user_id: string | null;
  reference_id: string | null;
  correlation_id: string;
  note: string | null;
  created_at: Date;
}

export interface NewMovement {
  id: string;
  tenantId: string;
  productId: string;
  storeId: string;
  quantityChange: number;
  quantityAfter: number;
  reason: string;
  actor: string;
  userId: string | null;
  referenceId: string | null;
  correlationId: string;
  note: string | null;
}

const MOVEMENT_PARAMS = 12;

/**
 * The insert of ledger rows, as a statement to travel with the change's outbox write; none for no
 * rows. On-hand of a level always equals the sum of its quantity_change.
 */
export function movementsInsert(movements: readonly NewMovement[]): Statement | undefined {
  if (movements.length === 0) return undefined;
  const values: unknown[] = [];
  const rows = movements.map((movement, index) => {
    values.push(
      movement.tenantId,
      movement.id,
      movement.productId,
      movement.storeId,
      movement.quantityChange,
      movement.quantityAfter,
      movement.reason,
      movement.actor,
      movement.userId,
      movement.referenceId,
      movement.correlationId,
      movement.note,
    );
    const base = index * MOVEMENT_PARAMS;
    return `(${Array.from({ length: MOVEMENT_PARAMS }, (_, column) => `$${base + column + 1}`).join(', ')})`;
  });
  return {
    sql: `INSERT INTO stock_movements (tenant_id, id, product_id, store_id, quantity_change, quantity_after, reason,
                                       actor, user_id, reference_id, correlation_id, note)
          VALUES ${rows.join(', ')}`,
    params: values,
  };
}

/** Newest first; `beforeId` is the last id of the previous page. */
export async function listMovements(
  db: Queryable,
  level: LevelRef,
  beforeId: string | undefined,
  limit: number,
): Promise<MovementRow[]> {
  const result = await db.query<MovementRow>(
    `SELECT id, product_id, store_id, quantity_change, quantity_after, reason, actor, user_id, reference_id,
            correlation_id, note, created_at
       FROM stock_movements
      WHERE tenant_id = $1 AND product_id = $2 AND store_id = $3 AND ($4::uuid IS NULL OR id < $4)
      ORDER BY id DESC LIMIT $5`,
    [level.tenantId, level.productId, level.storeId, beforeId ?? null, limit + 1],
  );
  return result.rows;
}
