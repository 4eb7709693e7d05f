import type { Database, Queryable, Transaction } from '../../platform/db/database.js';
import type { DomainEvent } from '../../platform/events/outbox.js';
import { groupBy } from '../../platform/group-by.js';
import { AppError } from '../../platform/http/problem.js';
import type { RequestContext } from '../../platform/http/request-context.js';
import { newId } from '../../platform/ids.js';
import { type CustomerHoldPolicy, holdViolationOf, type RequestedHold } from './customer-holds.domain.js';
import {
  customerHoldLimitExceeded,
  InventoryErrors,
  insufficientStock,
  reservationNotFound,
  stockLevelNotFound,
} from './inventory.errors.js';
import { InventoryEventTypes, type ReservationChangedData } from './inventory.events.js';
import { type InventoryRecorder, NOT_RECORDED } from './inventory.recorder.js';
import type {
  Reservation,
  ReservationBatchCreate,
  ReservationCreate,
  ReservationStats,
} from './inventory.schemas.js';
import {
  countByStatus,
  expireDueReservations,
  findReservation,
  insertReservations,
  listOfLevel,
  listPendingOfStore,
  lockCustomer,
  nextPendingExpiryOfTenant,
  pendingHoldsOfCustomer,
  type ReservationRow,
  type ReservationStatus,
  updateReservationStatus,
} from './reservation.repository.js';
import { availableOf, compareLevelKeys, SystemReasons, sellableQuantityOf } from './stock.domain.js';
import {
  consumeReserved,
  findLevel,
  type LevelRef,
  releaseReserved,
  reserveQuantity,
  type StockLevelRow,
} from './stock.repository.js';
import {
  type ChangeOrigin,
  type LevelChange,
  originOf,
  recordLevelChanges,
} from './stock-change.recorder.js';

export interface ReservationPolicy extends CustomerHoldPolicy {
  ttlDefaultSeconds: number;
  ttlMaxSeconds: number;
}

/** Told of every new expiry time, so the sweeper can wake for it. */
export type ExpiryListener = (expiresAt: Date) => void;

const SYSTEM_EXPIRY_ACTOR = 'system:reservation-expiry';

export function toReservation(row: ReservationRow, now = Date.now()): Reservation {
  const remainingMs = row.expires_at.getTime() - now;
  return {
    reservation_id: row.id,
    product_id: row.product_id,
    store_id: row.store_id,
    customer_id: row.customer_id,
    quantity: row.quantity,
    status: row.status,
    batch_id: row.batch_id,
    expires_at: row.expires_at.toISOString(),
    expires_in_seconds: row.status === 'PENDING' ? Math.max(0, Math.ceil(remainingMs / 1000)) : 0,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

interface UnmetLine {
  index: number;
  product_id: string;
  store_id: string;
  requested: number;
  available: number;
}

/**
 * Reservations hold stock for an online checkout for a limited time. Reserving is one conditional
 * UPDATE of the level plus the insert, in one transaction; confirming turns the hold into a sale;
 * cancelling or expiry gives it back. Lock order everywhere: reservation row, then levels by key.
 */
export class ReservationService {
  #expiryListener: ExpiryListener = () => {};

  constructor(
    private readonly database: Database,
    private readonly policy: ReservationPolicy,
  ) {}

  onExpiryScheduled(listener: ExpiryListener): void {
    this.#expiryListener = listener;
  }

  #recorder: InventoryRecorder = NOT_RECORDED;

  /** Metrics: told how many reservations were created, rejected, confirmed, cancelled or expired. */
  recordWith(recorder: InventoryRecorder): void {
    this.#recorder = recorder;
  }

  async create(context: RequestContext, input: ReservationCreate): Promise<Reservation> {
    const ttlSeconds = this.#ttl(input.ttl_seconds);
    const level = { tenantId: context.tenantId, productId: input.product_id, storeId: input.store_id };
    const row = await this.#rejectionsRecorded(
      this.database.forTenant(context.tenantId).transaction(async (tx) => {
        await this.#checkCustomerHolds(tx, context.tenantId, input.customer_id, [
          { productId: input.product_id, quantity: input.quantity },
        ]);
        const after = await reserveQuantity(tx, level, input.quantity);
        if (after === undefined) throw await this.#whyReserveFailed(tx, level, input.quantity);
        const [reservation] = await insertReservations(
          tx,
          context.tenantId,
          input.customer_id,
          ttlSeconds,
          null,
          [{ id: newId(), productId: input.product_id, storeId: input.store_id, quantity: input.quantity }],
        );
        const created = reservation as ReservationRow;
        await recordLevelChanges(
          tx,
          originOf(context),
          [
            {
              after,
              quantityChange: 0,
              reservedChange: input.quantity,
              reason: SystemReasons.reserved,
              referenceId: created.id,
            },
          ],
          [reservationEvent(originOf(context), InventoryEventTypes.reservationCreated, created, null)],
        );
        return created;
      }),
    );
    this.#expiryListener(row.expires_at);
    this.#recorder.reservations('created', 1);
    return toReservation(row);
  }

  /** All lines or none: a checkout never holds half a basket. 409 names every line that cannot be met. */
  async createBatch(context: RequestContext, input: ReservationBatchCreate) {
    const ttlSeconds = this.#ttl(input.ttl_seconds);
    const origin = originOf(context);
    const lines = input.items
      .map((item, index) => ({ index, item, key: { productId: item.product_id, storeId: item.store_id } }))
      .sort((left, right) => compareLevelKeys(left.key, right.key) || left.index - right.index);
    const batchId = newId();
    const rows = await this.#rejectionsRecorded(
      this.database.forTenant(context.tenantId).transaction(async (tx) => {
        await this.#checkCustomerHolds(
          tx,
          context.tenantId,
          input.customer_id,
          input.items.map((item) => ({ productId: item.product_id, quantity: item.quantity })),
        );
        const unmet: UnmetLine[] = [];
        const levelChanges: LevelChange[] = [];
        const reservationIds = new Map<number, string>();
        for (const line of lines) {
          const level = { tenantId: context.tenantId, ...line.key };
          const after = await reserveQuantity(tx, level, line.item.quantity);
          if (after === undefined) {
            const current = await findLevel(tx, level);
            const available = current === undefined ? 0 : sellableQuantityOf(current);
            unmet.push({
              index: line.index,
              product_id: line.item.product_id,
              store_id: line.item.store_id,
              requested: line.item.quantity,
              available,
            });
            continue;
          }
          const reservationId = newId();
          reservationIds.set(line.index, reservationId);
          levelChanges.push({
            after,
            quantityChange: 0,
            reservedChange: line.item.quantity,
            reason: SystemReasons.reserved,
            referenceId: reservationId,
          });
        }
        if (unmet.length > 0) {
          unmet.sort((left, right) => left.index - right.index);
          throw new AppError(
            InventoryErrors.insufficientStock,
            `${unmet.length} of ${input.items.length} lines cannot be met; nothing was reserved`,
            { lines: unmet },
          );
        }
        const created = await insertReservations(
          tx,
          context.tenantId,
          input.customer_id,
          ttlSeconds,
          batchId,
          input.items.map((item, index) => ({
            id: reservationIds.get(index) as string,
            productId: item.product_id,
            storeId: item.store_id,
            quantity: item.quantity,
          })),
        );
        await recordLevelChanges(
          tx,
          origin,
          levelChanges,
          created.map((row) => reservationEvent(origin, InventoryEventTypes.reservationCreated, row, null)),
        );
        return created;
      }),
      input.items.length,
    );
    const first = rows[0];
    if (first !== undefined) this.#expiryListener(first.expires_at);
    this.#recorder.reservations('created', rows.length);
    return { batch_id: batchId, reservations: rows.map((row) => toReservation(row)) };
  }

  async get(tenantId: string, reservationId: string): Promise<Reservation> {
    const row = await findReservation(this.database.forTenant(tenantId), tenantId, reservationId);
    if (row === undefined) throw reservationNotFound(reservationId);
    return toReservation(row);
  }

  /** The sale. Confirming twice returns the confirmed reservation; a cancelled or expired one is a 409. */
  async confirm(context: RequestContext, reservationId: string): Promise<Reservation> {
    const origin = originOf(context);
    const outcome = await this.database.forTenant(context.tenantId).transaction(async (tx) => {
      const row = await this.#lock(tx, context.tenantId, reservationId);
      if (row.status !== 'PENDING') return row;
      if (row.due) {
        await this.#expire(tx, origin, [row]);
        return { ...row, status: 'EXPIRED' as const };
      }
      const level = levelOf(row);
      const after = await consumeReserved(tx, level, row.quantity);
      if (after === undefined)
        throw new Error(`Reservation ${row.id} holds more than its level has reserved`);
      const confirmed = await updateReservationStatus(tx, row.tenant_id, row.id, 'CONFIRMED');
      await recordLevelChanges(
        tx,
        origin,
        [
          {
            after,
            quantityChange: -row.quantity,
            reservedChange: -row.quantity,
            reason: SystemReasons.reservationConfirmed,
            referenceId: row.id,
          },
        ],
        [reservationEvent(origin, InventoryEventTypes.reservationConfirmed, confirmed, 'PENDING')],
      );
      return confirmed;
    });
    if (outcome.status === 'CANCELLED') throw notPending(InventoryErrors.reservationCancelled, outcome);
    if (outcome.status === 'EXPIRED') throw notPending(InventoryErrors.reservationExpired, outcome);
    this.#recorder.reservations('confirmed', 1);
    return toReservation(outcome);
  }

  /** Gives the stock back. Cancelling a cancelled or expired reservation is harmless; a confirmed one is a 409. */
  async cancel(context: RequestContext, reservationId: string): Promise<Reservation> {
    const origin = originOf(context);
    const outcome = await this.database.forTenant(context.tenantId).transaction(async (tx) => {
      const row = await this.#lock(tx, context.tenantId, reservationId);
      if (row.status !== 'PENDING') return row;
      if (row.due) {
        await this.#expire(tx, origin, [row]);
        return { ...row, status: 'EXPIRED' as const };
      }
      const after = await releaseReserved(tx, levelOf(row), row.quantity);
      if (after === undefined)
        throw new Error(`Reservation ${row.id} holds more than its level has reserved`);
      const cancelled = await updateReservationStatus(tx, row.tenant_id, row.id, 'CANCELLED');
      await recordLevelChanges(
        tx,
        origin,
        [
          {
            after,
            quantityChange: 0,
            reservedChange: -row.quantity,
            reason: SystemReasons.reservationReleased,
            referenceId: row.id,
          },
        ],
        [reservationEvent(origin, InventoryEventTypes.reservationCancelled, cancelled, 'PENDING')],
      );
      return cancelled;
    });
    if (outcome.status === 'CONFIRMED') throw notPending(InventoryErrors.reservationConfirmed, outcome);
    if (outcome.status === 'CANCELLED') this.#recorder.reservations('cancelled', 1);
    return toReservation(outcome);
  }

  async listPendingOfStore(tenantId: string, storeId: string, afterId: string | undefined, limit: number) {
    return listPendingOfStore(this.database.forTenant(tenantId), tenantId, storeId, afterId, limit);
  }

  async listOfLevel(
    filter: LevelRef & { status: ReservationStatus | undefined; afterId: string | undefined; limit: number },
  ) {
    return listOfLevel(this.database.forTenant(filter.tenantId), filter);
  }

  async stats(tenantId: string, storeId: string | undefined): Promise<ReservationStats> {
    const totals = await countByStatus(this.database.forTenant(tenantId), tenantId, storeId);
    const of = (status: ReservationStatus) => {
      const found = totals.find((total) => total.status === status);
      return { count: found?.count ?? 0, units: found?.units ?? 0 };
    };
    const nextExpiry = await nextPendingExpiryOfTenant(this.database.forTenant(tenantId), tenantId, storeId);
    return {
      pending: of('PENDING'),
      confirmed: of('CONFIRMED'),
      cancelled: of('CANCELLED'),
      expired: of('EXPIRED'),
      next_expiry_at: nextExpiry?.toISOString() ?? null,
    };
  }

  /** Expires up to `limit` due reservations of every tenant and releases their stock; returns how many. */
  async expireDue(limit: number): Promise<number> {
    const expiredCount = await this.database.system('reservation-expiry').transaction(async (tx) => {
      const expired = await expireDueReservations(tx, limit);
      // Tenants in a fixed order too: two sweepers then lock levels in one global order.
      const byTenant = [...groupBy(expired, (row) => row.tenant_id)].sort(([left], [right]) =>
        left < right ? -1 : 1,
      );
      for (const [tenantId, rows] of byTenant) {
        await this.#releaseExpired(
          tx,
          { tenantId, correlationId: newId(), actor: SYSTEM_EXPIRY_ACTOR },
          rows,
        );
      }
      return expired.length;
    });
    if (expiredCount > 0) this.#recorder.reservations('expired', expiredCount);
    return expiredCount;
  }

  /** Marks PENDING rows the caller has locked EXPIRED and releases their stock. */
  async #rejectionsRecorded<T>(work: Promise<T>, lines = 1): Promise<T> {
    try {
      return await work;
    } catch (error) {
      this.#recorder.reservations('rejected', lines);
      throw error;
    }
  }

  async #expire(tx: Transaction, origin: ChangeOrigin, rows: readonly ReservationRow[]): Promise<void> {
    for (const row of rows) await updateReservationStatus(tx, row.tenant_id, row.id, 'EXPIRED');
    await this.#releaseExpired(tx, origin, rows);
  }

  /** Releases the stock of reservations already marked EXPIRED, one update per level, in lock order. */
  async #releaseExpired(
    tx: Transaction,
    origin: ChangeOrigin,
    rows: readonly ReservationRow[],
  ): Promise<void> {
    const perLevel = groupBy(rows, (row) => `${row.product_id}:${row.store_id}`);
    const levels = [...perLevel.values()]
      .map((group) => ({
        key: {
          productId: (group[0] as ReservationRow).product_id,
          storeId: (group[0] as ReservationRow).store_id,
        },
        group,
      }))
      .sort((left, right) => compareLevelKeys(left.key, right.key));
    const changes: LevelChange[] = [];
    for (const { key, group } of levels) {
      const units = group.reduce((sum, row) => sum + row.quantity, 0);
      const after: StockLevelRow | undefined = await releaseReserved(
        tx,
        { tenantId: origin.tenantId, ...key },
        units,
      );
      if (after === undefined)
        throw new Error(
          `Expired reservations hold more than level ${key.productId}:${key.storeId} has reserved`,
        );
      changes.push({
        after,
        quantityChange: 0,
        reservedChange: -units,
        reason: SystemReasons.reservationExpired,
        referenceId: group.length === 1 ? (group[0] as ReservationRow).id : null,
      });
    }
    const events = rows.map((row) =>
      reservationEvent(
        origin,
        InventoryEventTypes.reservationExpired,
        { ...row, status: 'EXPIRED' },
        'PENDING',
      ),
    );
    await recordLevelChanges(tx, origin, changes, events);
  }

  /** Under the customer's lock, so the caps hold against concurrent requests of the same customer. */
  async #checkCustomerHolds(
    tx: Transaction,
    tenantId: string,
    customerId: string,
    requested: readonly RequestedHold[],
  ): Promise<void> {
    await lockCustomer(tx, tenantId, customerId);
    const rows = await pendingHoldsOfCustomer(tx, tenantId, customerId);
    const holds = {
      unitsByProduct: new Map(rows.map((row) => [row.product_id, row.units])),
      openCount: rows.reduce((sum, row) => sum + row.reservations, 0),
    };
    const violation = holdViolationOf(holds, requested, this.policy);
    if (violation !== undefined) throw customerHoldLimitExceeded(violation);
  }

  async #lock(tx: Queryable, tenantId: string, reservationId: string): Promise<ReservationRow> {
    const row = await findReservation(tx, tenantId, reservationId, { forUpdate: true });
    if (row === undefined) throw reservationNotFound(reservationId);
    return row;
  }

  #ttl(requested: number | undefined): number {
    const ttl = requested ?? this.policy.ttlDefaultSeconds;
    if (ttl < 1 || ttl > this.policy.ttlMaxSeconds) {
      throw new AppError(
        InventoryErrors.ttlOutOfRange,
        `ttl_seconds must be between 1 and ${this.policy.ttlMaxSeconds}`,
        {
          ttl_seconds_max: this.policy.ttlMaxSeconds,
        },
      );
    }
    return ttl;
  }

  async #whyReserveFailed(db: Queryable, level: LevelRef, requested: number): Promise<AppError> {
    const current = await findLevel(db, level);
    if (current === undefined || !current.sellable) return stockLevelNotFound(level.productId, level.storeId);
    return insufficientStock(level.productId, level.storeId, requested, availableOf(current));
  }
}

function levelOf(row: ReservationRow): LevelRef {
  return { tenantId: row.tenant_id, productId: row.product_id, storeId: row.store_id };
}

function notPending(
  definition: (typeof InventoryErrors)[keyof typeof InventoryErrors],
  row: ReservationRow,
): AppError {
  return new AppError(definition, `Reservation ${row.id} is ${row.status}`, {
    reservation_id: row.id,
    status: row.status,
  });
}

function reservationEvent(
  origin: ChangeOrigin,
  type: string,
  row: ReservationRow,
  previousStatus: ReservationStatus | null,
): DomainEvent<ReservationChangedData> {
  return {
    type,
    tenantId: origin.tenantId,
    // Ordered with the level's stock events: a consumer sees the hold after the stock it came from.
    aggregateType: 'stock_level',
    aggregateId: `${row.product_id}:${row.store_id}`,
    subject: `reservations/${row.id}`,
    correlationId: origin.correlationId,
    data: {
      reservation_id: row.id,
      product_id: row.product_id,
      store_id: row.store_id,
      customer_id: row.customer_id,
      quantity: row.quantity,
      status: row.status,
      previous_status: previousStatus,
      expires_at: row.expires_at.toISOString(),
      batch_id: row.batch_id,
    },
  };
}
