import {
  constraintOf,
  type Database,
  type Queryable,
  SqlState,
  sqlStateOf,
  type Transaction,
} from '../../platform/db/database.js';
import { appendToOutbox } from '../../platform/events/outbox.js';
import { versionConflict } from '../../platform/http/etag.js';
import { AppError } from '../../platform/http/problem.js';
import type { RequestContext } from '../../platform/http/request-context.js';
import { newId } from '../../platform/ids.js';
import { assertKnownCurrency } from './catalog.domain.js';
import { CatalogErrors, productNotFound } from './catalog.errors.js';
import { CatalogEventTypes, type ProductChangedData, type ProductSnapshot } from './catalog.events.js';
import type { Product, ProductWrite } from './catalog.schemas.js';
import {
  findProduct,
  findProductBySku,
  insertProduct,
  listProducts,
  markProductDeleted,
  type ProductFields,
  type ProductRow,
  updateProduct,
} from './product.repository.js';

/**
 * Lets the module that owns stock veto or prepare a product's deletion, inside the deleting
 * transaction, without the catalog reading its tables. Wired in app.ts.
 */
export interface ProductDeletionGuard {
  beforeProductDeleted(tx: Transaction, context: RequestContext, productId: string): Promise<void>;
}

export function toProduct(row: ProductRow): Product {
  return {
    id: row.id,
    sku: row.sku,
    name: row.name,
    description: row.description,
    category: row.category,
    price_minor: row.price_minor,
    currency: row.currency,
    version: row.version,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function snapshotOf(row: ProductRow): ProductSnapshot {
  const { id, sku, name, category, price_minor, currency, version } = row;
  return { id, sku, name, category, price_minor, currency, version };
}

function fieldsOf(input: ProductWrite): ProductFields {
  assertKnownCurrency(input.currency);
  return {
    sku: input.sku,
    name: input.name,
    description: input.description ?? '',
    category: input.category ?? null,
    price_minor: input.price_minor,
    currency: input.currency,
  };
}

export class ProductService {
  #deletionGuard: ProductDeletionGuard | undefined;

  constructor(private readonly database: Database) {}

  setDeletionGuard(guard: ProductDeletionGuard): void {
    this.#deletionGuard = guard;
  }

  async create(context: RequestContext, input: ProductWrite): Promise<Product> {
    const fields = fieldsOf(input);
    return this.#mappingSkuConflict(fields.sku, () =>
      this.database.forTenant(context.tenantId).transaction(async (tx) => {
        const row = await insertProduct(tx, context.tenantId, newId(), fields);
        await this.#announce(tx, context, CatalogEventTypes.productCreated, null, row);
        return toProduct(row);
      }),
    );
  }

  async get(tenantId: string, productId: string): Promise<Product> {
    return toProduct(await this.require(this.database.forTenant(tenantId), tenantId, productId));
  }

  /**
   * For other modules: the live product, inside their transaction; 404 when absent or deleted.
   * `share` holds off a concurrent delete until the caller commits (used when creating stock levels).
   */
  async require(
    db: Queryable,
    tenantId: string,
    productId: string,
    lock: 'none' | 'share' = 'none',
  ): Promise<ProductRow> {
    const row = await findProduct(db, tenantId, productId, lock);
    if (row === undefined) throw productNotFound(productId);
    return row;
  }

  async getBySku(tenantId: string, sku: string): Promise<Product> {
    const row = await findProductBySku(this.database.forTenant(tenantId), tenantId, sku);
    if (row === undefined) {
      throw new AppError(CatalogErrors.productNotFound, `No product has SKU ${sku}`, { sku });
    }
    return toProduct(row);
  }

  async list(
    tenantId: string,
    filter: { category: string | undefined; afterId: string | undefined; limit: number },
  ) {
    return listProducts(this.database.forTenant(tenantId), tenantId, filter);
  }

  async update(
    context: RequestContext,
    productId: string,
    expectedVersion: number | undefined,
    input: ProductWrite,
  ): Promise<Product> {
    const fields = fieldsOf(input);
    return this.#mappingSkuConflict(fields.sku, () =>
      this.database.forTenant(context.tenantId).transaction(async (tx) => {
        const previous = await findProduct(tx, context.tenantId, productId, 'update');
        if (previous === undefined) throw productNotFound(productId);
        const row = await updateProduct(
          tx,
          context.tenantId,
          productId,
          expectedVersion ?? previous.version,
          fields,
        );
        if (row === undefined) {
          const current = await this.require(tx, context.tenantId, productId);
          throw versionConflict(current.version);
        }
        await this.#announce(tx, context, CatalogEventTypes.productUpdated, previous, row);
        return toProduct(row);
      }),
    );
  }

  /** Soft delete: the SKU becomes free, the ledger keeps its history. Refused while stock is reserved. */
  async delete(
    context: RequestContext,
    productId: string,
    expectedVersion: number | undefined,
  ): Promise<void> {
    await this.database.forTenant(context.tenantId).transaction(async (tx) => {
      const row = await findProduct(tx, context.tenantId, productId, 'update');
      if (row === undefined) throw productNotFound(productId);
      if (expectedVersion !== undefined && row.version !== expectedVersion)
        throw versionConflict(row.version);
      await this.#deletionGuard?.beforeProductDeleted(tx, context, productId);
      await markProductDeleted(tx, context.tenantId, productId);
      await this.#announce(tx, context, CatalogEventTypes.productDeleted, row, null);
    });
  }

  async #announce(
    tx: Transaction,
    context: RequestContext,
    type: string,
    previous: ProductRow | null,
    current: ProductRow | null,
  ): Promise<void> {
    const subjectRow = (current ?? previous) as ProductRow;
    const data: ProductChangedData = {
      product_id: subjectRow.id,
      previous: previous ? snapshotOf(previous) : null,
      current: current ? snapshotOf(current) : null,
      version: current ? current.version : subjectRow.version + 1,
    };
    await appendToOutbox(tx, [
      {
        type,
        tenantId: context.tenantId,
        aggregateType: 'product',
        aggregateId: subjectRow.id,
        subject: `products/${subjectRow.id}`,
        correlationId: context.correlationId,
        data,
      },
    ]);
  }

  async #mappingSkuConflict<T>(sku: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (sqlStateOf(error) === SqlState.uniqueViolation && constraintOf(error) === 'products_sku_unique') {
        throw new AppError(CatalogErrors.skuAlreadyExists, `SKU ${sku} is already in use`, { sku });
      }
      throw error;
    }
  }
}
