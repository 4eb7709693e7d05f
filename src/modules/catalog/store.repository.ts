import type { Queryable } from '../../platform/db/database.js';

export interface StoreRow {
  id: string;
  name: string;
  kind: 'store' | 'warehouse' | 'online';
  created_at: Date;
}

const STORE_COLUMNS = 'id, name, kind, created_at';

export async function insertStore(
  db: Queryable,
  tenantId: string,
  store: Omit<StoreRow, 'created_at'>,
): Promise<StoreRow | undefined> {
  const result = await db.query<StoreRow>(
    `INSERT INTO stores (tenant_id, id, name, kind) VALUES ($1, $2, $3, $4)
     ON CONFLICT (tenant_id, id) DO NOTHING RETURNING ${STORE_COLUMNS}`,
    [tenantId, store.id, store.name, store.kind],
  );
  return result.rows[0];
}

export async function findStore(
  db: Queryable,
  tenantId: string,
  storeId: string,
): Promise<StoreRow | undefined> {
  const result = await db.query<StoreRow>(
    `SELECT ${STORE_COLUMNS} FROM stores WHERE tenant_id = $1 AND id = $2`,
    [tenantId, storeId],
  );
  return result.rows[0];
}

export async function findStores(
  db: Queryable,
  tenantId: string,
  storeIds: readonly string[],
): Promise<StoreRow[]> {
  const result = await db.query<StoreRow>(
    `SELECT ${STORE_COLUMNS} FROM stores WHERE tenant_id = $1 AND id = ANY($2::text[]) ORDER BY id`,
    [tenantId, storeIds],
  );
  return result.rows;
}

/** Fetches `limit + 1` rows after `afterId` so the caller knows whether another page exists. */
export async function listStores(
  db: Queryable,
  tenantId: string,
  afterId: string | undefined,
  limit: number,
): Promise<StoreRow[]> {
  const result = await db.query<StoreRow>(
    `SELECT ${STORE_COLUMNS} FROM stores
      WHERE tenant_id = $1 AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3`,
    [tenantId, afterId ?? null, limit + 1],
  );
  return result.rows;
}
