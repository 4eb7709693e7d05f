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

/**
 * The insert of ledger rows, as a statement to travel with the change's outbox write; none for no
 * rows. On-hand of a level always equals the sum of its quantity_change.
 */
export function movementsInsert(movements: readonly NewMovement[]): Statement | undefined {
  if (movements.length === 0) return undefined;
  const column = <T>(pick: (movement: NewMovement) => T): T[] => movements.map(pick);
  // Arrays, not a VALUES row per movement: the same text for any number of rows, prepared once.
  return {
    sql: `INSERT INTO stock_movements (tenant_id, id, product_id, store_id, quantity_change, quantity_after, reason,
                                       actor, user_id, reference_id, correlation_id, note)
          SELECT * FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::integer[], $6::integer[],
                               $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])`,
    params: [
      column((movement) => movement.tenantId),
      column((movement) => movement.id),
      column((movement) => movement.productId),
      column((movement) => movement.storeId),
      column((movement) => movement.quantityChange),
      column((movement) => movement.quantityAfter),
      column((movement) => movement.reason),
      column((movement) => movement.actor),
      column((movement) => movement.userId),
      column((movement) => movement.referenceId),
      column((movement) => movement.correlationId),
      column((movement) => movement.note),
    ],
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
