import type { CacheRead, ReadThroughCache } from '../../platform/cache/read-through-cache.js';
import type { Database, Queryable, Transaction } from '../../platform/db/database.js';
import type { CloudEvent } from '../../platform/events/cloud-event.js';
import { versionConflict } from '../../platform/http/etag.js';
import { AppError } from '../../platform/http/problem.js';
import type { RequestContext } from '../../platform/http/request-context.js';
import { newId } from '../../platform/ids.js';
import { recordOutcome } from '../../platform/observability/outcome.js';
import type { ProductDeletionGuard, ProductService, StoreService } from '../catalog/index.js';
import { InventoryErrors, insufficientStock, stockLevelNotFound } from './inventory.errors.js';
import { InventoryEventTypes, type StockTransferredData } from './inventory.events.js';
import { type InventoryRecorder, NOT_RECORDED, type StockOperation } from './inventory.recorder.js';
import type {
  ProductAvailability,
  StockAdjust,
  StockInitialise,
  StockLevel,
  StockSet,
  StockTransfer,
} from './inventory.schemas.js';
import { listMovements, type MovementRow } from './movement.repository.js';
import {
  adjustmentSignProblem,
  availableOf,
  QUANTITY_ON_HAND_MAX,
  SystemReasons,
  sellableQuantityOf,
} from './stock.domain.js';
import {
  changeQuantity,
  findLevel,
  insertLevel,
  type LevelRef,
  listLevelsOfProduct,
  listLevelsOfStore,
  listLowStockLevels,
  lockLevelsOfProduct,
  markProductLevelsUnsellable,
  type StockLevelRow,
  setQuantity,
} from './stock.repository.js';
import { type LevelChange, originOf, recordLevelChanges, stockEvent } from './stock-change.recorder.js';

export function availabilityCacheKey(tenantId: string, productId: string): string {
  return `availability:${tenantId}:${productId}`;
}

/** The cached views an event makes stale: a product's availability, for any stock, reservation or product event. */
export function availabilityCacheKeysOf(tenantId: string, envelope: CloudEvent): string[] {
  const productId = (envelope.data as { product_id?: unknown } | null)?.product_id;
  if (typeof productId !== 'string') return [];
  return [availabilityCacheKey(tenantId, productId)];
}

export function toStockLevel(row: StockLevelRow): StockLevel {
  return {
    product_id: row.product_id,
    store_id: row.store_id,
    quantity: row.quantity,
    reserved: row.reserved,
    available: sellableQuantityOf(row),
    low_stock_threshold: row.low_stock_threshold,
    version: row.version,
    updated_at: row.updated_at.toISOString(),
  };
}

/** Stock per product and store: initialise, read, set, adjust, transfer. Every write is one transaction. */
export class StockService implements ProductDeletionGuard {
  constructor(
    private readonly database: Database,
    private readonly products: ProductService,
    private readonly stores: StoreService,
    private readonly availabilityCache: ReadThroughCache,
  ) {}

  #recorder: InventoryRecorder = NOT_RECORDED;

  /** Metrics: told of every stock write and how it ended. */
  recordWith(recorder: InventoryRecorder): void {
    this.#recorder = recorder;
  }

  #recorded<T>(operation: StockOperation, storeId: string, work: Promise<T>): Promise<T> {
    return recordOutcome(work, (outcome) => this.#recorder.stockOperation(operation, storeId, outcome));
  }

  async initialise(context: RequestContext, input: StockInitialise): Promise<StockLevel> {
    return this.#recorded(
      'initialise',
      input.store_id,
      this.database.forTenant(context.tenantId).transaction(async (tx) => {
        await this.products.require(tx, context.tenantId, input.product_id, 'share');
        await this.stores.require(tx, context.tenantId, input.store_id);
        const level = { tenantId: context.tenantId, productId: input.product_id, storeId: input.store_id };
        const row = await insertLevel(tx, level, input.quantity, input.low_stock_threshold ?? 0);
        if (row === undefined) {
          throw new AppError(
            InventoryErrors.stockLevelExists,
            `Stock of ${input.product_id} in ${input.store_id} already exists`,
            {
              product_id: input.product_id,
              store_id: input.store_id,
            },
          );
        }
        await recordLevelChanges(tx, originOf(context), [
          {
            after: row,
            quantityChange: input.quantity,
            reservedChange: 0,
            reason: SystemReasons.initial,
            eventType: InventoryEventTypes.stockCreated,
          },
        ]);
        return toStockLevel(row);
      }),
    );
  }

  async get(level: LevelRef): Promise<StockLevel> {
    return toStockLevel(await this.#require(this.database.forTenant(level.tenantId), level));
  }

  async listByProduct(tenantId: string, productId: string) {
    // One transaction for both reads: a tenant-bound statement outside one costs a transaction each.
    const rows = await this.database.forTenant(tenantId).transaction(async (tx) => {
      await this.products.require(tx, tenantId, productId);
      return listLevelsOfProduct(tx, tenantId, productId);
    });
    const levels = rows.map(toStockLevel);
    const totalQuantity = levels.reduce((sum, level) => sum + level.quantity, 0);
    const totalReserved = levels.reduce((sum, level) => sum + level.reserved, 0);
    return {
      product_id: productId,
      total_quantity: totalQuantity,
      total_reserved: totalReserved,
      total_available: totalQuantity - totalReserved,
      levels,
    };
  }

  async listByStore(tenantId: string, storeId: string, afterProductId: string | undefined, limit: number) {
    return this.database.forTenant(tenantId).transaction(async (tx) => {
      await this.stores.require(tx, tenantId, storeId);
      return listLevelsOfStore(tx, tenantId, storeId, afterProductId, limit);
    });
  }

  async listLowStock(
    tenantId: string,
    filter: { storeId: string | undefined; after: readonly [string, string] | undefined; limit: number },
  ) {
    return listLowStockLevels(this.database.forTenant(tenantId), tenantId, filter);
  }

  async availability(level: LevelRef, requested: number) {
    const row = await this.#require(this.database.forTenant(level.tenantId), level);
    const available = sellableQuantityOf(row);
    return {
      product_id: level.productId,
      store_id: level.storeId,
      requested,
      available,
      is_available: available >= requested,
    };
  }

  /**
   * The customer view: what can be bought where. Served from the cache; every event that changes it
   * drops the entry (see `availabilityCacheKeysOf`), so a read after a change is fresh. While the
   * database cannot be reached, the last value read is served marked stale.
   */
  async productAvailability(tenantId: string, productId: string): Promise<CacheRead<ProductAvailability>> {
    return this.availabilityCache.read(availabilityCacheKey(tenantId, productId), () =>
      this.#loadProductAvailability(tenantId, productId),
    );
  }

  /** The customer view when this instance holds it fresh, answered at once; else undefined. */
  cachedProductAvailability(tenantId: string, productId: string): ProductAvailability | undefined {
    return this.availabilityCache.peek(availabilityCacheKey(tenantId, productId));
  }

  async #loadProductAvailability(tenantId: string, productId: string): Promise<ProductAvailability> {
    // Single statements, not a transaction (which costs a BEGIN and a COMMIT round trip): the product
    // and its levels are read side by side, then the stores' names. This is the read a change
    // invalidates, so under write load it runs about as often as changes do.
    const tenant = this.database.forTenant(tenantId);
    const [product, levels] = await Promise.all([
      this.products.require(tenant, tenantId, productId),
      listLevelsOfProduct(tenant, tenantId, productId),
    ]);
    const stores = await this.stores.getMany(
      tenantId,
      levels.map((level) => level.store_id),
      tenant,
    );
    const perStore = levels.map((level) => {
      const store = stores.get(level.store_id);
      return {
        store_id: level.store_id,
        store_name: store?.name ?? level.store_id,
        store_kind: store?.kind ?? 'store',
        available: availableOf(level),
        reserved: level.reserved,
      };
    });
    return {
      product_id: product.id,
      sku: product.sku,
      name: product.name,
      total_available: perStore.reduce((sum, store) => sum + store.available, 0),
      stores: perStore,
    };
  }

  /** Sets on-hand to a counted value; the caller must name the version it read (If-Match). */
  async set(
    context: RequestContext,
    level: LevelRef,
    expectedVersion: number | undefined,
    input: StockSet,
  ): Promise<StockLevel> {
    return this.#recorded(
      'set',
      level.storeId,
      this.database.forTenant(context.tenantId).transaction(async (tx) => {
        const current = await this.#require(tx, level, { forUpdate: true });
        if (expectedVersion !== undefined && current.version !== expectedVersion)
          throw versionConflict(current.version);
        if (input.quantity < current.reserved) {
          throw new AppError(
            InventoryErrors.quantityBelowReserved,
            `${current.reserved} units are reserved; on-hand cannot be set to ${input.quantity}`,
            { reserved: current.reserved, requested_quantity: input.quantity },
          );
        }
        const row = await setQuantity(tx, level, input.quantity, input.low_stock_threshold);
        await recordLevelChanges(tx, originOf(context), [
          {
            after: row,
            quantityChange: row.quantity - current.quantity,
            reservedChange: 0,
            reason: input.reason ?? 'COUNT',
            userId: input.user_id ?? null,
          },
        ]);
        return toStockLevel(row);
      }),
    );
  }

  /** A relative change with a reason; never takes on-hand below what is reserved. */
  async adjust(context: RequestContext, level: LevelRef, input: StockAdjust): Promise<StockLevel> {
    const signProblem = adjustmentSignProblem(input.reason, input.quantity_change);
    if (signProblem !== undefined) {
      throw new AppError(InventoryErrors.invalidAdjustment, signProblem, {
        reason: input.reason,
        quantity_change: input.quantity_change,
      });
    }
    return this.#recorded(
      'adjust',
      level.storeId,
      this.database.forTenant(context.tenantId).transaction(async (tx) => {
        const row = await changeQuantity(tx, level, input.quantity_change);
        if (row === undefined) throw await this.#whyChangeFailed(tx, level, input.quantity_change);
        // The ledger and the event are the last write: they go out with COMMIT.
        await recordLevelChanges(
          tx,
          originOf(context),
          [
            {
              after: row,
              quantityChange: input.quantity_change,
              reservedChange: 0,
              reason: input.reason,
              userId: input.user_id ?? null,
              note: input.note ?? null,
            },
          ],
          [],
          [],
          { withCommit: true },
        );
        return toStockLevel(row);
      }),
    );
  }

  /**
   * Moves available units between two stores atomically. The two levels are written in store order,
   * whatever the direction, so concurrent transfers A→B and B→A cannot deadlock.
   */
  async transfer(context: RequestContext, input: StockTransfer) {
    if (input.from_store_id === input.to_store_id) {
      throw new AppError(InventoryErrors.sameStoreTransfer, 'from_store_id and to_store_id must differ');
    }
    return this.#recorded(
      'transfer',
      input.from_store_id,
      this.database.forTenant(context.tenantId).transaction(async (tx) => {
        const { tenantId } = context;
        await this.products.require(tx, tenantId, input.product_id, 'share');
        const source = { tenantId, productId: input.product_id, storeId: input.from_store_id };
        const destination = { tenantId, productId: input.product_id, storeId: input.to_store_id };
        await this.#require(tx, source);
        await this.stores.require(tx, tenantId, input.to_store_id);
        const changes: LevelChange[] = [];
        const created = await insertLevel(tx, destination, 0, 0);
        if (created !== undefined) {
          changes.push({
            after: created,
            quantityChange: 0,
            reservedChange: 0,
            reason: SystemReasons.transferIn,
            eventType: InventoryEventTypes.stockCreated,
          });
        }
        const transferId = newId();
        const reason = input.reason ?? 'TRANSFER';
        const steps = [
          { level: source, change: -input.quantity, reason: SystemReasons.transferOut },
          { level: destination, change: input.quantity, reason: SystemReasons.transferIn },
        ].sort((left, right) => (left.level.storeId < right.level.storeId ? -1 : 1));
        const after = new Map<string, StockLevelRow>();
        for (const step of steps) {
          const row = await changeQuantity(tx, step.level, step.change);
          if (row === undefined) throw await this.#whyChangeFailed(tx, step.level, step.change);
          after.set(step.level.storeId, row);
          changes.push({
            after: row,
            quantityChange: step.change,
            reservedChange: 0,
            reason: step.reason,
            referenceId: transferId,
            userId: input.user_id ?? null,
            note: reason,
          });
        }
        const from = after.get(input.from_store_id) as StockLevelRow;
        const to = after.get(input.to_store_id) as StockLevelRow;
        const data: StockTransferredData = {
          transfer_id: transferId,
          product_id: input.product_id,
          from_store_id: input.from_store_id,
          to_store_id: input.to_store_id,
          quantity: input.quantity,
          reason,
          from_quantity_after: from.quantity,
          to_quantity_after: to.quantity,
        };
        await recordLevelChanges(tx, originOf(context), changes, [
          stockEvent(originOf(context), InventoryEventTypes.stockTransferred, from, data),
        ]);
        return {
          transfer_id: transferId,
          product_id: input.product_id,
          quantity: input.quantity,
          from: toStockLevel(from),
          to: toStockLevel(to),
        };
      }),
    );
  }

  async movements(level: LevelRef, beforeId: string | undefined, limit: number): Promise<MovementRow[]> {
    return this.database.forTenant(level.tenantId).transaction(async (tx) => {
      await this.#require(tx, level);
      return listMovements(tx, level, beforeId, limit);
    });
  }

  /** Deleting a product: refused while any of its stock is reserved; otherwise its levels stop selling. */
  async beforeProductDeleted(tx: Transaction, context: RequestContext, productId: string): Promise<void> {
    const levels = await lockLevelsOfProduct(tx, context.tenantId, productId);
    const reserved = levels.reduce((sum, level) => sum + level.reserved, 0);
    if (reserved > 0) {
      throw new AppError(
        InventoryErrors.productHasReservedStock,
        `${reserved} units of product ${productId} are reserved; confirm or cancel those reservations first`,
        { product_id: productId, reserved },
      );
    }
    const unsellable = await markProductLevelsUnsellable(tx, context.tenantId, productId);
    await recordLevelChanges(
      tx,
      originOf(context),
      unsellable.map((after) => ({
        after,
        quantityChange: 0,
        reservedChange: 0,
        reason: SystemReasons.productDeleted,
      })),
    );
  }

  async #require(
    db: Queryable,
    level: LevelRef,
    options: { forUpdate?: boolean } = {},
  ): Promise<StockLevelRow> {
    const row = await findLevel(db, level, options);
    if (row === undefined) throw stockLevelNotFound(level.productId, level.storeId);
    return row;
  }

  /** Explains a conditional quantity change that matched no row. */
  async #whyChangeFailed(db: Queryable, level: LevelRef, change: number): Promise<AppError> {
    const row = await this.#require(db, level);
    if (row.quantity + change > QUANTITY_ON_HAND_MAX) {
      return new AppError(
        InventoryErrors.quantityLimitExceeded,
        `On-hand would exceed ${QUANTITY_ON_HAND_MAX}`,
        {
          quantity: row.quantity,
          quantity_change: change,
        },
      );
    }
    return insufficientStock(level.productId, level.storeId, -change, availableOf(row));
  }
}
