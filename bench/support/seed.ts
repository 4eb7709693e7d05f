import type { BenchDatabase, SqlSession } from './database.js';
import type { Level } from './load-protocol.js';

/** The tenant of the bench's admin key (the service's default tenant). */
export const BENCH_TENANT = 'default';

export interface Catalog {
  product_ids: string[];
  store_ids: string[];
  /** Every product in every store. */
  levels: Level[];
}

/**
 * Products × stores with `quantity` on hand each, written in a few statements: 10,000 levels through
 * the API one by one would take longer than the load that follows. Each level gets its INITIAL
 * ledger row too, as the API would write it, so the ledger still adds up.
 */
export async function seedCatalog(
  session: SqlSession,
  shape: { products: number; stores: number; quantity: number; prefix?: string },
): Promise<Catalog> {
  const prefix = shape.prefix ?? 'BENCH';
  await session.query(
    `INSERT INTO stores (tenant_id, id, name, kind)
     SELECT $1, $2 || '-' || lpad(n::text, 4, '0'), 'Bench store ' || n, 'store' FROM generate_series(1, $3) AS n`,
    [BENCH_TENANT, prefix, shape.stores],
  );
  await session.query(
    `INSERT INTO products (tenant_id, id, sku, name, price_minor, currency)
     SELECT $1, gen_random_uuid(), $2 || '-' || n, 'Bench product ' || n, 100, 'EUR' FROM generate_series(1, $3) AS n`,
    [BENCH_TENANT, prefix, shape.products],
  );
  const like = `${prefix}-%`;
  await session.query(
    `INSERT INTO stock_levels (tenant_id, product_id, store_id, quantity)
     SELECT $1, products.id, stores.id, $3 FROM products, stores
      WHERE products.tenant_id = $1 AND stores.tenant_id = $1 AND products.sku LIKE $2 AND stores.id LIKE $2`,
    [BENCH_TENANT, like, shape.quantity],
  );
  await session.query(
    `INSERT INTO stock_movements (tenant_id, id, product_id, store_id, quantity_change, quantity_after, reason,
                                  actor, correlation_id)
     SELECT tenant_id, gen_random_uuid(), product_id, store_id, quantity, quantity, 'INITIAL', 'bench', 'bench-seed'
       FROM stock_levels WHERE tenant_id = $1 AND store_id LIKE $2`,
    [BENCH_TENANT, like],
  );
  const products = await session.query<{ id: string }>(
    'SELECT id FROM products WHERE tenant_id = $1 AND sku LIKE $2 ORDER BY id',
    [BENCH_TENANT, like],
  );
  const stores = await session.query<{ id: string }>(
    'SELECT id FROM stores WHERE tenant_id = $1 AND id LIKE $2 ORDER BY id',
    [BENCH_TENANT, like],
  );
  const productIds = products.map((row) => row.id);
  const storeIds = stores.map((row) => row.id);
  return {
    product_ids: productIds,
    store_ids: storeIds,
    levels: productIds.flatMap((product) => storeIds.map((store): Level => [product, store])),
  };
}

/** Runs `work` on the database outside any service; on PGlite no service may be running on it. */
export async function withSession<T>(
  database: BenchDatabase,
  work: (session: SqlSession) => Promise<T>,
): Promise<T> {
  const session = await database.open();
  try {
    return await work(session);
  } finally {
    await session.close();
  }
}
