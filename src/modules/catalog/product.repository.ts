import type { Queryable } from '../../platform/db/database.js';

export interface ProductRow {
  id: string;
  sku: string;
  name: string;
  description: string;
  category: string | null;
  price_minor: number;
  currency: string;
  version: number;
  created_at: Date;
  updated_at: Date;
}

export type ProductFields = Pick<
  ProductRow,
  'sku' | 'name' | 'description' | 'category' | 'price_minor' | 'currency'
>;

const PRODUCT_COLUMNS =
  'id, sku, name, description, category, price_minor, currency, version, created_at, updated_at';

export async function insertProduct(
  db: Queryable,
  tenantId: string,
  id: string,
  fields: ProductFields,
): Promise<ProductRow> {
  const result = await db.query<ProductRow>(
    `INSERT INTO products (tenant_id, id, sku, name, description, category, price_minor, currency)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${PRODUCT_COLUMNS}`,
    [
      tenantId,
      id,
      fields.sku,
      fields.name,
      fields.description,
      fields.category,
      fields.price_minor,
      fields.currency,
    ],
  );
  return result.rows[0] as ProductRow;
}

export async function findProduct(
  db: Queryable,
  tenantId: string,
  productId: string,
  lock: 'none' | 'share' | 'update' = 'none',
): Promise<ProductRow | undefined> {
  const lockClause = lock === 'share' ? ' FOR SHARE' : lock === 'update' ? ' FOR UPDATE' : '';
  const result = await db.query<ProductRow>(
    `SELECT ${PRODUCT_COLUMNS} FROM products
      WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL${lockClause}`,
    [tenantId, productId],
  );
  return result.rows[0];
}

export async function findProductBySku(
  db: Queryable,
  tenantId: string,
  sku: string,
): Promise<ProductRow | undefined> {
  const result = await db.query<ProductRow>(
    `SELECT ${PRODUCT_COLUMNS} FROM products WHERE tenant_id = $1 AND sku = $2 AND deleted_at IS NULL`,
    [tenantId, sku],
  );
  return result.rows[0];
}

export async function listProducts(
  db: Queryable,
  tenantId: string,
  filter: { category: string | undefined; afterId: string | undefined; limit: number },
): Promise<ProductRow[]> {
  const result = await db.query<ProductRow>(
    `SELECT ${PRODUCT_COLUMNS} FROM products
      WHERE tenant_id = $1 AND deleted_at IS NULL
        AND ($2::text IS NULL OR category = $2)
        AND ($3::uuid IS NULL OR id > $3)
      ORDER BY id LIMIT $4`,
    [tenantId, filter.category ?? null, filter.afterId ?? null, filter.limit + 1],
  );
  return result.rows;
}

/** Replaces the fields only if the row is still at `expectedVersion`; undefined otherwise. */
export async function updateProduct(
  db: Queryable,
  tenantId: string,
  productId: string,
  expectedVersion: number,
  fields: ProductFields,
): Promise<ProductRow | undefined> {
  const result = await db.query<ProductRow>(
    `UPDATE products
        SET sku = $4, name = $5, description = $6, category = $7, price_minor = $8, currency = $9,
            version = version + 1, updated_at = now()
      WHERE tenant_id = $1 AND id = $2 AND version = $3 AND deleted_at IS NULL
      RETURNING ${PRODUCT_COLUMNS}`,
    [
      tenantId,
      productId,
      expectedVersion,
      fields.sku,
      fields.name,
      fields.description,
      fields.category,
      fields.price_minor,
      fields.currency,
    ],
  );
  return result.rows[0];
}

export async function markProductDeleted(db: Queryable, tenantId: string, productId: string): Promise<void> {
  await db.query(
    'UPDATE products SET deleted_at = now(), version = version + 1, updated_at = now() WHERE tenant_id = $1 AND id = $2',
    [tenantId, productId],
  );
}
