import { LRUCache } from 'lru-cache';
import type { Database, Queryable } from '../../platform/db/database.js';
import { appendToOutbox } from '../../platform/events/outbox.js';
import { AppError } from '../../platform/http/problem.js';
import type { RequestContext } from '../../platform/http/request-context.js';
import { CatalogErrors, storeNotFound } from './catalog.errors.js';
import { CatalogEventTypes, type StoreCreatedData } from './catalog.events.js';
import type { Store, StoreCreate } from './catalog.schemas.js';
import { findStore, findStores, insertStore, listStores, type StoreRow } from './store.repository.js';

export function toStore(row: StoreRow): Store {
  return { id: row.id, name: row.name, kind: row.kind, created_at: row.created_at.toISOString() };
}

/** Stores `getMany` remembers, across tenants; the least recently used go first. */
const KNOWN_STORES_MAX = 10_000;

/** Stores, warehouses and online channels: the places stock lives. */
export class StoreService {
  /**
   * Stores already read, by tenant and id. A store is never changed or removed once created (no
   * route or statement does either), so a row read once stays true: the availability view, read
   * again after every stock change of its product, names its stores without a round trip.
   */
  readonly #known = new LRUCache<string, Store>({ max: KNOWN_STORES_MAX });

  constructor(private readonly database: Database) {}

  async create(context: RequestContext, input: StoreCreate): Promise<Store> {
    return this.database.forTenant(context.tenantId).transaction(async (tx) => {
      const row = await insertStore(tx, context.tenantId, {
        id: input.id,
        name: input.name,
        kind: input.kind ?? 'store',
      });
      if (row === undefined) {
        throw new AppError(CatalogErrors.storeAlreadyExists, `Store ${input.id} already exists`, {
          store_id: input.id,
        });
      }
      const data: StoreCreatedData = { store_id: row.id, name: row.name, kind: row.kind };
      await appendToOutbox(tx, [
        {
          type: CatalogEventTypes.storeCreated,
          tenantId: context.tenantId,
          aggregateType: 'store',
          aggregateId: row.id,
          subject: `stores/${row.id}`,
          correlationId: context.correlationId,
          data,
        },
      ]);
      return toStore(row);
    });
  }

  async get(tenantId: string, storeId: string): Promise<Store> {
    return toStore(await this.require(this.database.forTenant(tenantId), tenantId, storeId));
  }

  /** For other modules: the store, inside their transaction; 404 when it does not exist. */
  async require(db: Queryable, tenantId: string, storeId: string): Promise<StoreRow> {
    const row = await findStore(db, tenantId, storeId);
    if (row === undefined) throw storeNotFound(storeId);
    return row;
  }

  /** `db`: the caller's transaction, when it has one for this tenant. */
  async getMany(
    tenantId: string,
    storeIds: readonly string[],
    db: Queryable = this.database.forTenant(tenantId),
  ): Promise<Map<string, Store>> {
    const found = new Map<string, Store>();
    const unknown: string[] = [];
    for (const storeId of storeIds) {
      const store = this.#known.get(`${tenantId}:${storeId}`);
      if (store === undefined) unknown.push(storeId);
      else found.set(storeId, store);
    }
    if (unknown.length === 0) return found;
    for (const row of await findStores(db, tenantId, unknown)) {
      const store = toStore(row);
      this.#known.set(`${tenantId}:${row.id}`, store);
      found.set(row.id, store);
    }
    return found;
  }

  async list(tenantId: string, afterId: string | undefined, limit: number): Promise<StoreRow[]> {
    return listStores(this.database.forTenant(tenantId), tenantId, afterId, limit);
  }
}
