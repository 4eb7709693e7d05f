import type { Queryable } from '../../platform/db/database.js';
import { QUANTITY_ON_HAND_MAX } from './stock.domain.js';

export interface StockLevelRow {
  product_id: string;
  store_id: string;
  quantity: number;
  reserved: number;
  low_stock_threshold: number;
  sellable: boolean;
  version: number;
  updated_at: Date;
}

export interface LevelRef {
  tenantId: string;
  productId: string;
  storeId: string;
}

const LEVEL_COLUMNS =
  'product_id, store_id, quantity, reserved, low_stock_threshold, sellable, version, updated_at';
const LEVEL_KEY = 'tenant_id = $1 AND product_id = $2 AND store_id = $3';

function keyParams(level: LevelRef): [string, string, string] {
  return [level.tenantId, level.productId, level.storeId];
}

export async function insertLevel(
  db: Queryable,
  level: LevelRef,
  quantity: number,
  lowStockThreshold: number,
): Promise<StockLevelRow | undefined> {
  const result = await db.query<StockLevelRow>(
    `INSERT INTO stock_levels (tenant_id, product_id, store_id, quantity, low_stock_threshold)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING ${LEVEL_COLUMNS}`,
    [...keyParams(level), quantity, lowStockThreshold],
  );
  return result.rows[0];
}

export async function findLevel(
  db: Queryable,
  level: LevelRef,
  options: { forUpdate?: boolean } = {},
): Promise<StockLevelRow | undefined> {
  const result = await db.query<StockLevelRow>(
    `SELECT ${LEVEL_COLUMNS} FROM stock_levels WHERE ${LEVEL_KEY}${options.forUpdate ? ' FOR UPDATE' : ''}`,
    keyParams(level),
  );
  return result.rows[0];
}

/** On-hand += change, only if on-hand stays at or above reserved and within the maximum. */
export async function changeQuantity(
  db: Queryable,
  level: LevelRef,
  change: number,
): Promise<StockLevelRow | undefined> {
  const result = await db.query<StockLevelRow>(
    `UPDATE stock_levels
        SET quantity = quantity + $4, version = version + 1, updated_at = now()
      WHERE ${LEVEL_KEY} AND quantity + $4 >= reserved AND quantity + $4 <= ${QUANTITY_ON_HAND_MAX}
      RETURNING ${LEVEL_COLUMNS}`,
    [...keyParams(level), change],
  );
  return result.rows[0];
}

/** Sets on-hand (and optionally the threshold) on a level the caller has locked. */
export async function setQuantity(
  db: Queryable,
  level: LevelRef,
  quantity: number,
  lowStockThreshold: number | undefined,
): Promise<StockLevelRow> {
  const result = await db.query<StockLevelRow>(
    `UPDATE stock_levels
        SET quantity = $4, low_stock_threshold = COALESCE($5, low_stock_threshold),
            version = version + 1, updated_at = now()
      WHERE ${LEVEL_KEY} RETURNING ${LEVEL_COLUMNS}`,
    [...keyParams(level), quantity, lowStockThreshold ?? null],
  );
  return result.rows[0] as StockLevelRow;
}

/**
 * The reservation of one level: the conditional UPDATE of reserveOnLevels. Undefined means not
 * enough available (or not sellable); a concurrent writer of the same row is serialised by its row
 * lock, and PostgreSQL re-checks the condition against the row it committed.
 */
export async function reserveQuantity(
  db: Queryable,
  level: LevelRef,
  quantity: number,
): Promise<StockLevelRow | undefined> {
  const [after] = await reserveOnLevels(db, level.tenantId, [
    { productId: level.productId, storeId: level.storeId, units: quantity },
  ]);
  return after;
}

/** Prefixes each level column with `alias.`, for statements that join stock_levels. */
const LEVEL_COLUMNS_OF = (alias: string) =>
  LEVEL_COLUMNS.split(', ')
    .map((column) => `${alias}.${column}`)
    .join(', ');

/**
 * Locks the given levels of one tenant FOR UPDATE in exactly the order given (the rows are locked
 * after the sort, so the caller's order is the lock order) and returns those that exist.
 */
export async function lockLevels(
  db: Queryable,
  tenantId: string,
  levels: readonly { productId: string; storeId: string }[],
): Promise<StockLevelRow[]> {
  const result = await db.query<StockLevelRow>(
    `SELECT ${LEVEL_COLUMNS_OF('level')}
       FROM unnest($2::uuid[], $3::text[]) WITH ORDINALITY AS wanted(product_id, store_id, position)
       JOIN stock_levels level
         ON level.tenant_id = $1 AND level.product_id = wanted.product_id AND level.store_id = wanted.store_id
      ORDER BY wanted.position
      FOR UPDATE OF level`,
    [tenantId, levels.map((level) => level.productId), levels.map((level) => level.storeId)],
  );
  return result.rows;
}

/**
 * Reserves units on several levels of one tenant in one conditional UPDATE: each level only if it
 * is sellable and has the units available. Returns the levels it changed; a level left out did not
 * have them. Several rows are locked in the plan's order, so callers that pass more than one level
 * lock them first (lockLevels) and this cannot then fail.
 */
export async function reserveOnLevels(
  db: Queryable,
  tenantId: string,
  levels: readonly { productId: string; storeId: string; units: number }[],
): Promise<StockLevelRow[]> {
  const result = await db.query<StockLevelRow>(
    `UPDATE stock_levels level
        SET reserved = level.reserved + wanted.units, version = level.version + 1, updated_at = now()
       FROM unnest($2::uuid[], $3::text[], $4::integer[]) AS wanted(product_id, store_id, units)
      WHERE level.tenant_id = $1 AND level.product_id = wanted.product_id AND level.store_id = wanted.store_id
        AND level.sellable AND level.quantity - level.reserved >= wanted.units
      RETURNING ${LEVEL_COLUMNS_OF('level')}`,
    [
      tenantId,
      levels.map((level) => level.productId),
      levels.map((level) => level.storeId),
      levels.map((level) => level.units),
    ],
  );
  return result.rows;
}

/** Gives reserved units back (cancel, expiry). */
export async function releaseReserved(
  db: Queryable,
  level: LevelRef,
  quantity: number,
): Promise<StockLevelRow | undefined> {
  const result = await db.query<StockLevelRow>(
    `UPDATE stock_levels
        SET reserved = reserved - $4, version = version + 1, updated_at = now()
      WHERE ${LEVEL_KEY} AND reserved >= $4
      RETURNING ${LEVEL_COLUMNS}`,
    [...keyParams(level), quantity],
  );
  return result.rows[0];
}

/** Turns reserved units into a sale: on-hand and reserved both drop. */
export async function consumeReserved(
  db: Queryable,
  level: LevelRef,
  quantity: number,
): Promise<StockLevelRow | undefined> {
  const result = await db.query<StockLevelRow>(
    `UPDATE stock_levels
        SET quantity = quantity - $4, reserved = reserved - $4, version = version + 1, updated_at = now()
      WHERE ${LEVEL_KEY} AND reserved >= $4
      RETURNING ${LEVEL_COLUMNS}`,
    [...keyParams(level), quantity],
  );
  return result.rows[0];
}

/** Locks every level of a product, in store order, for a product-wide decision. */
export async function lockLevelsOfProduct(
  db: Queryable,
  tenantId: string,
  productId: string,
): Promise<StockLevelRow[]> {
  const result = await db.query<StockLevelRow>(
    `SELECT ${LEVEL_COLUMNS} FROM stock_levels WHERE tenant_id = $1 AND product_id = $2 ORDER BY store_id FOR UPDATE`,
    [tenantId, productId],
  );
  return result.rows;
}

export async function markProductLevelsUnsellable(
  db: Queryable,
  tenantId: string,
  productId: string,
): Promise<StockLevelRow[]> {
  const result = await db.query<StockLevelRow>(
    `UPDATE stock_levels SET sellable = false, version = version + 1, updated_at = now()
      WHERE tenant_id = $1 AND product_id = $2 RETURNING ${LEVEL_COLUMNS}`,
    [tenantId, productId],
  );
  return result.rows.sort((left, right) => (left.store_id < right.store_id ? -1 : 1));
}

export async function listLevelsOfProduct(
  db: Queryable,
  tenantId: string,
  productId: string,
): Promise<StockLevelRow[]> {
  const result = await db.query<StockLevelRow>(
    `SELECT ${LEVEL_COLUMNS} FROM stock_levels WHERE tenant_id = $1 AND product_id = $2 AND sellable ORDER BY store_id`,
    [tenantId, productId],
  );
  return result.rows;
}

export async function listLevelsOfStore(
  db: Queryable,
  tenantId: string,
  storeId: string,
  afterProductId: string | undefined,
  limit: number,
): Promise<StockLevelRow[]> {
  const result = await db.query<StockLevelRow>(
    `SELECT ${LEVEL_COLUMNS} FROM stock_levels
      WHERE tenant_id = $1 AND store_id = $2 AND sellable AND ($3::uuid IS NULL OR product_id > $3)
      ORDER BY product_id LIMIT $4`,
    [tenantId, storeId, afterProductId ?? null, limit + 1],
  );
  return result.rows;
}

/** Levels whose available quantity is below their threshold, optionally in one store. */
export async function listLowStockLevels(
  db: Queryable,
  tenantId: string,
  filter: { storeId: string | undefined; after: readonly [string, string] | undefined; limit: number },
): Promise<StockLevelRow[]> {
  const result = await db.query<StockLevelRow>(
    `SELECT ${LEVEL_COLUMNS} FROM stock_levels
      WHERE tenant_id = $1 AND sellable AND quantity - reserved < low_stock_threshold
        AND ($2::text IS NULL OR store_id = $2)
        AND ($3::uuid IS NULL OR (product_id, store_id) > ($3::uuid, $4::text))
      ORDER BY product_id, store_id LIMIT $5`,
    [
      tenantId,
      filter.storeId ?? null,
      filter.after?.[0] ?? null,
      filter.after?.[1] ?? null,
      filter.limit + 1,
    ],
  );
  return result.rows;
}
