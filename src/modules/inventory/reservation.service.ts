import type { Context } from '@opentelemetry/api';
import {
  type Database,
  isConnectivityError,
  type Queryable,
  type Statement,
  sqlStateOf,
  type Transaction,
} from '../../platform/db/database.js';
import type { DomainEvent } from '../../platform/events/outbox.js';
import { groupBy } from '../../platform/group-by.js';
import { AppError } from '../../platform/http/problem.js';
import type { RequestContext } from '../../platform/http/request-context.js';
import { newId } from '../../platform/ids.js';
import { type ItemOutcome, KeyedBatchQueue } from '../../platform/keyed-batch-queue.js';
import {
  currentLogContext,
  type LogContext,
  runWithLogContext,
} from '../../platform/observability/log-context.js';
import {
  capturedTraceContext,
  currentTraceparent,
  inBatchSpan,
} from '../../platform/observability/tracing.js';
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
  type CustomerHoldRow,
  countByStatus,
  expireDueReservations,
  findReservation,
  listOfLevel,
  listPendingOfStore,
  lockCustomersAndReadHolds,
  nextPendingExpiryOfTenant,
  pendingReservationsInsert,
  type ReservationRow,
  type ReservationStatus,
  settlePendingReservation,
  updateReservationStatus,
} from './reservation.repository.js';
import {
  type Allocation,
  allocateReservations,
  type BatchAllocation,
  type HeldByCustomer,
  levelKeyOf,
  levelsOf,
  type RequestedReservation,
} from './reservation-allocation.domain.js';
import { availableOf, compareLevelKeys, SystemReasons, sellableQuantityOf } from './stock.domain.js';
import {
  consumeReserved,
  findLevel,
  type LevelRef,
  lockLevels,
  releaseReserved,
  reserveOnLevels,
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

/** What confirming and cancelling do to a PENDING reservation's level, ledger and events. */
interface Settlement {
  /** CONFIRMED is a sale: on-hand drops with reserved. CANCELLED gives the units back to available. */
  status: 'CONFIRMED' | 'CANCELLED';
  /** What the reservations metric counts. */
  outcome: 'confirmed' | 'cancelled';
  moveLevel: (tx: Queryable, level: LevelRef, quantity: number) => Promise<StockLevelRow | undefined>;
  reason: string;
  eventType: string;
}

const SETTLEMENTS = {
  confirm: {
    status: 'CONFIRMED',
    outcome: 'confirmed',
    moveLevel: consumeReserved,
    reason: SystemReasons.reservationConfirmed,
    eventType: InventoryEventTypes.reservationConfirmed,
  },
  cancel: {
    status: 'CANCELLED',
    outcome: 'cancelled',
    moveLevel: releaseReserved,
    reason: SystemReasons.reservationReleased,
    eventType: InventoryEventTypes.reservationCancelled,
  },
} as const satisfies Record<string, Settlement>;

/** Told of every new expiry time, so the sweeper can wake for it. */
export type ExpiryListener = (expiresAt: Date) => void;

const SYSTEM_EXPIRY_ACTOR = 'system:reservation-expiry';
/**
 * Reservations one transaction takes at most: large enough that a flash sale's queue drains in a
 * few transactions, small enough that one transaction stays a few milliseconds.
 */
const RESERVATION_BATCH_SIZE_MAX = 256;

/** A single-line reservation waiting for its batch, with what it needs to be answered as its own. */
interface PendingReservation {
  origin: ChangeOrigin;
  /** The request's trace, linked from the batch's span. */
  traceContext: Context | undefined;
  logContext: LogContext | undefined;
  request: RequestedReservation;
  ttlSeconds: number;
}

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

/**
 * Whether the caller may see a reservation (the route decides, from the principal). Checked on the
 * row the operation reads, so that an invisible reservation is a 404 that costs no read of its own.
 */
export type ReservationVisibility = (
  reservation: Pick<ReservationRow, 'customer_id' | 'store_id'>,
) => boolean;

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
  /** Single-line reservations, coalesced per tenant (one RLS scope per transaction). */
  readonly #coalesced = new KeyedBatchQueue<PendingReservation, ReservationRow>(
    (tenantId, batch) => this.#reserveBatch(tenantId, batch),
    RESERVATION_BATCH_SIZE_MAX,
  );

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

  /**
   * One line, held for `ttl_seconds`. Concurrent requests of a tenant are coalesced (see
   * #reserveBatch): the answer is the same as if each had run alone, in arrival order.
   */
  async create(context: RequestContext, input: ReservationCreate): Promise<Reservation> {
    const ttlSeconds = this.#ttl(input.ttl_seconds);
    const pending: PendingReservation = {
      origin: { ...originOf(context), traceparent: currentTraceparent() },
      traceContext: capturedTraceContext(),
      logContext: currentLogContext(),
      request: {
        productId: input.product_id,
        storeId: input.store_id,
        customerId: input.customer_id,
        quantity: input.quantity,
      },
      ttlSeconds,
    };
    const row = await this.#rejectionsRecorded(this.#coalesced.submit(context.tenantId, pending));
    this.#expiryListener(row.expires_at);
    this.#recorder.reservations('created', 1);
    return toReservation(row);
  }

  /**
   * Runs the single-line reservations that piled up for one tenant in one transaction. Should the
   * transaction fail on something the database reported (a deadlock with another instance, say),
   * nothing of it committed and each request is tried alone, so no request fails for another's
   * sake; a failure to reach the database is every request's answer.
   */
  async #reserveBatch(
    tenantId: string,
    batch: readonly PendingReservation[],
  ): Promise<ItemOutcome<ReservationRow>[]> {
    const first = batch[0] as PendingReservation;
    try {
      return await runWithLogContext(first.logContext ?? { tenant: tenantId }, () =>
        inBatchSpan(
          'reservations.batch',
          { 'omnistock.batch.size': batch.length },
          batch.map((pending) => pending.traceContext),
          () =>
            this.database
              .forTenant(tenantId)
              .transaction((tx) => this.#reserveInTransaction(tx, tenantId, batch)),
        ),
      );
    } catch (error) {
      const rolledBack = sqlStateOf(error) !== undefined && !isConnectivityError(error);
      if (batch.length === 1 || !rolledBack) throw error;
      const alone: ItemOutcome<ReservationRow>[] = [];
      for (const pending of batch) {
        try {
          const [outcome] = await this.#reserveBatch(tenantId, [pending]);
          alone.push(outcome as ItemOutcome<ReservationRow>);
        } catch (aloneError) {
          alone.push({ ok: false, error: aloneError });
        }
      }
      return alone;
    }
  }

  /**
   * A batch in one transaction: lock its customers and read their holds and, when the batch is on
   * one level, reserve everything it asks for in one conditional UPDATE — both in the transaction's
   * first round trip. Requests past their customer's caps then give their units back; only when the
   * stock is not there for the whole batch (or the batch spans levels) are the levels locked in key
   * order and shared out request by request. Then one insert of every reservation and one outbox
   * write, with COMMIT.
   */
  async #reserveInTransaction(
    tx: Transaction,
    tenantId: string,
    batch: readonly PendingReservation[],
  ): Promise<ItemOutcome<ReservationRow>[]> {
    const requests = batch.map((pending) => pending.request);
    const customerIds = [...new Set(requests.map((request) => request.customerId))];
    const levels = levelsOf(requests).sort(compareLevelKeys);
    // Sent together, customers first (the lock order: customers, then levels).
    const holdsRead = lockCustomersAndReadHolds(tx, tenantId, customerIds);
    const levelStep = sendLevelStep(tx, tenantId, requests, levels);
    const held = heldByCustomer(await holdsRead);
    const { allocation, granted, reservedLevels, inserted } = await this.#reserve(
      tx,
      tenantId,
      batch,
      levels,
      held,
      levelStep,
    );
    const rowById = new Map(inserted.rows.map((row) => [row.id, row]));
    const grantedByLevel = groupBy(granted, ({ pending }) => levelKeyOf(pending.request));
    const levelChanges = reservedLevels.map((after): LevelChange => {
      const causes = grantedByLevel.get(levelKeyOf({ productId: after.product_id, storeId: after.store_id }));
      const firstCause = causes?.[0];
      if (causes === undefined || firstCause === undefined)
        throw new Error(`Level ${after.product_id}:${after.store_id} changed with no reservation`);
      return {
        after,
        quantityChange: 0,
        reservedChange: causes.reduce((sum, { pending }) => sum + pending.request.quantity, 0),
        reason: SystemReasons.reserved,
        referenceId: causes.length === 1 ? firstCause.id : null,
        origin: firstCause.pending.origin,
      };
    });
    await recordLevelChanges(
      tx,
      (batch[0] as PendingReservation).origin,
      levelChanges,
      granted.map(({ pending, id }) =>
        reservationEvent(
          pending.origin,
          InventoryEventTypes.reservationCreated,
          rowById.get(id) as ReservationRow,
          null,
        ),
      ),
      inserted.statement === undefined ? [] : [inserted.statement],
      // The batch's last write (its reservations and their events): it goes out with COMMIT.
      { withCommit: true },
    );
    const grantedIds = new Map(granted.map(({ pending, id }) => [pending, id]));
    return batch.map((pending, index): ItemOutcome<ReservationRow> => {
      const id = grantedIds.get(pending);
      if (id !== undefined) return { ok: true, value: rowById.get(id) as ReservationRow };
      return { ok: false, error: refusalOf(pending.request, allocation.allocations[index]) };
    });
  }

  /**
   * Who gets stock, the levels as they are after reserving it, and the reservation rows. A batch on
   * one level has already asked for everything in one conditional UPDATE; only when that did not
   * fit are its levels locked now. A batch across levels has locked them (in key order) already.
   * Levels under lock are shared out request by request.
   */
  async #reserve(
    tx: Transaction,
    tenantId: string,
    batch: readonly PendingReservation[],
    levels: readonly RequestedReservation[],
    held: ReadonlyMap<string, HeldByCustomer>,
    levelStep: LevelStep,
  ): Promise<{
    allocation: BatchAllocation;
    granted: Granted[];
    reservedLevels: StockLevelRow[];
    /** The reservations granted, and their insert (none when nothing was granted) for the outbox write. */
    inserted: { statement: Statement | undefined; rows: ReservationRow[] };
  }> {
    const requests = batch.map((pending) => pending.request);
    const underLock = (locking: Promise<StockLevelRow[]>) =>
      this.#reserveUnderLock(tx, tenantId, requests, levels, held, locking);
    const { allocation, reservedLevels } =
      levelStep.kind === 'locked'
        ? await underLock(levelStep.locked)
        : ((await this.#keepWhatPassedTheCaps(tx, tenantId, requests, held, levelStep)) ??
          (await underLock(lockLevels(tx, tenantId, levels))));
    const granted = batch.flatMap((pending, index) =>
      allocation.allocations[index]?.kind === 'reserved' ? [{ pending, id: newId() }] : [],
    );
    const inserted =
      granted.length === 0
        ? { statement: undefined, rows: [] }
        : pendingReservationsInsert(
            tenantId,
            await tx.startedAt(),
            granted.map(({ pending, id }) => ({
              id,
              ...pending.request,
              ttlSeconds: pending.ttlSeconds,
              batchId: null,
            })),
          );
    return { allocation, granted, reservedLevels, inserted };
  }

  /**
   * One level, everything asked for reserved already: the requests past their customer's caps give
   * their units back (one more UPDATE, only then). Undefined when the level did not have stock for
   * the whole batch: nothing was reserved, and the batch is shared out under the level's lock.
   */
  async #keepWhatPassedTheCaps(
    tx: Transaction,
    tenantId: string,
    requests: readonly RequestedReservation[],
    held: ReadonlyMap<string, HeldByCustomer>,
    { level, units, after: reserved }: EverythingReserved,
  ): Promise<{ allocation: BatchAllocation; reservedLevels: StockLevelRow[] } | undefined> {
    const key = levelKeyOf(level);
    const allocation = allocateReservations(
      requests,
      new Map([[key, Number.POSITIVE_INFINITY]]),
      held,
      this.policy,
    );
    const reservedLevel = await reserved;
    if (reservedLevel === undefined) return undefined;
    const refusedUnits = units - (allocation.unitsByLevel.get(key) ?? 0);
    if (refusedUnits === 0) return { allocation, reservedLevels: [reservedLevel] };
    const after = await releaseReserved(
      tx,
      { tenantId, productId: level.productId, storeId: level.storeId },
      refusedUnits,
    );
    if (after === undefined) throw new Error(`Level ${key} lost units it had just reserved`);
    // Every request refused: the level is as it was, and there is no change to record.
    return { allocation, reservedLevels: allocation.unitsByLevel.has(key) ? [after] : [] };
  }

  /** Levels locked in key order (`locking`), the stock shared out request by request, written in one UPDATE. */
  async #reserveUnderLock(
    tx: Transaction,
    tenantId: string,
    requests: readonly RequestedReservation[],
    levels: readonly RequestedReservation[],
    held: ReadonlyMap<string, HeldByCustomer>,
    locking: Promise<StockLevelRow[]>,
  ): Promise<{ allocation: BatchAllocation; reservedLevels: StockLevelRow[] }> {
    const locked = await locking;
    const available = new Map(
      locked
        .filter((level) => level.sellable)
        .map((level) => [
          levelKeyOf({ productId: level.product_id, storeId: level.store_id }),
          availableOf(level),
        ]),
    );
    const allocation = allocateReservations(requests, available, held, this.policy);
    const toReserve = levels.flatMap((level) => {
      const units = allocation.unitsByLevel.get(levelKeyOf(level));
      return units === undefined ? [] : [{ productId: level.productId, storeId: level.storeId, units }];
    });
    const reservedLevels = toReserve.length === 0 ? [] : await reserveOnLevels(tx, tenantId, toReserve);
    if (reservedLevels.length !== toReserve.length)
      throw new Error('A level locked for a reservation batch changed under its lock');
    return { allocation, reservedLevels };
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
        const inserted = pendingReservationsInsert(
          context.tenantId,
          await tx.startedAt(),
          input.items.map((item, index) => ({
            id: reservationIds.get(index) as string,
            productId: item.product_id,
            storeId: item.store_id,
            customerId: input.customer_id,
            quantity: item.quantity,
            ttlSeconds,
            batchId,
          })),
        );
        await recordLevelChanges(
          tx,
          origin,
          levelChanges,
          inserted.rows.map((row) =>
            reservationEvent(origin, InventoryEventTypes.reservationCreated, row, null),
          ),
          [inserted.statement],
        );
        return inserted.rows;
      }),
      input.items.length,
    );
    const first = rows[0];
    if (first !== undefined) this.#expiryListener(first.expires_at);
    this.#recorder.reservations('created', rows.length);
    return { batch_id: batchId, reservations: rows.map((row) => toReservation(row)) };
  }

  async get(tenantId: string, reservationId: string, visible: ReservationVisibility): Promise<Reservation> {
    const row = await findReservation(this.database.forTenant(tenantId), tenantId, reservationId);
    if (row === undefined || !visible(row)) throw reservationNotFound(reservationId);
    return toReservation(row);
  }

  /** The sale. Confirming twice returns the confirmed reservation; a cancelled or expired one is a 409. */
  async confirm(
    context: RequestContext,
    reservationId: string,
    visible: ReservationVisibility,
  ): Promise<Reservation> {
    const outcome = await this.#settle(context, reservationId, visible, SETTLEMENTS.confirm);
    if (outcome.status === 'CANCELLED') throw notPending(InventoryErrors.reservationCancelled, outcome);
    if (outcome.status === 'EXPIRED') throw notPending(InventoryErrors.reservationExpired, outcome);
    return toReservation(outcome);
  }

  /** Gives the stock back. Cancelling a cancelled or expired reservation is harmless; a confirmed one is a 409. */
  async cancel(
    context: RequestContext,
    reservationId: string,
    visible: ReservationVisibility,
  ): Promise<Reservation> {
    const outcome = await this.#settle(context, reservationId, visible, SETTLEMENTS.cancel);
    if (outcome.status === 'CONFIRMED') throw notPending(InventoryErrors.reservationConfirmed, outcome);
    return toReservation(outcome);
  }

  /**
   * Confirms or cancels, in one transaction: the reservation's status first (a conditional update
   * that locks its row, so a PENDING reservation that is not due costs no read of its own), then its
   * level, the ledger and the events. Anything else — missing, invisible to the caller, settled
   * already, or due — is read and answered as it is; a due one is expired on the spot. Counted once
   * committed, and only what this call changed: confirming or cancelling again changes nothing.
   */
  async #settle(
    context: RequestContext,
    reservationId: string,
    visible: ReservationVisibility,
    settlement: Settlement,
  ): Promise<ReservationRow> {
    const origin = originOf(context);
    return this.database.forTenant(context.tenantId).transaction(async (tx) => {
      const settled = await settlePendingReservation(tx, context.tenantId, reservationId, settlement.status);
      if (settled === undefined) {
        const row = await this.#lock(tx, context.tenantId, reservationId, visible);
        // Still PENDING, yet not settled above: it is due (both statements read the transaction's clock).
        if (row.status === 'PENDING') {
          await this.#expire(tx, origin, [row]);
          tx.afterCommit(() => this.#recorder.reservations('expired', 1));
          return { ...row, status: 'EXPIRED' as const };
        }
        return row;
      }
      tx.afterCommit(() => this.#recorder.reservations(settlement.outcome, 1));
      // Thrown before anything else is written: the transaction rolls the status back.
      if (!visible(settled)) throw reservationNotFound(reservationId);
      const after = await settlement.moveLevel(tx, levelOf(settled), settled.quantity);
      if (after === undefined)
        throw new Error(`Reservation ${settled.id} holds more than its level has reserved`);
      await recordLevelChanges(
        tx,
        origin,
        [
          {
            after,
            quantityChange: settlement.status === 'CONFIRMED' ? -settled.quantity : 0,
            reservedChange: -settled.quantity,
            reason: settlement.reason,
            referenceId: settled.id,
          },
        ],
        [reservationEvent(origin, settlement.eventType, settled, 'PENDING')],
      );
      return settled;
    });
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
    const holds = heldByCustomer(await lockCustomersAndReadHolds(tx, tenantId, [customerId])).get(customerId);
    const violation = holdViolationOf(
      holds ?? { unitsByProduct: new Map(), openCount: 0 },
      requested,
      this.policy,
    );
    if (violation !== undefined) throw customerHoldLimitExceeded(violation);
  }

  /** The reservation, locked; one the caller may not see is not found, and nothing is written. */
  async #lock(
    tx: Queryable,
    tenantId: string,
    reservationId: string,
    visible: ReservationVisibility,
  ): Promise<ReservationRow> {
    const row = await findReservation(tx, tenantId, reservationId, { forUpdate: true });
    if (row === undefined || !visible(row)) throw reservationNotFound(reservationId);
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

function heldByCustomer(rows: readonly CustomerHoldRow[]): Map<string, HeldByCustomer> {
  const held = new Map<string, HeldByCustomer>();
  for (const row of rows) {
    const holding = held.get(row.customer_id) ?? { unitsByProduct: new Map(), openCount: 0 };
    holding.unitsByProduct.set(row.product_id, row.units);
    holding.openCount += row.reservations;
    held.set(row.customer_id, holding);
  }
  return held;
}

/** The answer to a request the batch could not grant, as it would have been had it run alone. */
function refusalOf(request: RequestedReservation, allocation: Allocation | undefined): AppError {
  switch (allocation?.kind) {
    case 'hold-limit':
      return customerHoldLimitExceeded(allocation.violation);
    case 'insufficient':
      return insufficientStock(request.productId, request.storeId, request.quantity, allocation.available);
    case 'level-not-found':
      return stockLevelNotFound(request.productId, request.storeId);
    default:
      throw new Error(`No refusal for a ${allocation?.kind ?? 'missing'} allocation`);
  }
}

/** A one-level batch's UPDATE of every unit it asks for: the level after it, or undefined when it did not have them. */
interface EverythingReserved {
  kind: 'everything-reserved';
  level: RequestedReservation;
  units: number;
  after: Promise<StockLevelRow | undefined>;
}

/** What a batch's first round trip does to its levels besides the customers' locks. */
type LevelStep = EverythingReserved | { kind: 'locked'; locked: Promise<StockLevelRow[]> };

/** A request the batch grants, with the id of the reservation it gets. */
interface Granted {
  pending: PendingReservation;
  id: string;
}

/**
 * Sends, without waiting, what a batch's first round trip does to its levels: a batch on one level
 * reserves everything it asks for in one conditional UPDATE; a batch across levels locks them, in
 * key order, to share them out. Awaited once the holds are in, unless the holds read fails first
 * and takes the transaction (and this statement) with it: the rejection is handled here for that.
 */
function sendLevelStep(
  tx: Transaction,
  tenantId: string,
  requests: readonly RequestedReservation[],
  levels: readonly RequestedReservation[],
): LevelStep {
  const [level] = levels;
  if (level === undefined || levels.length > 1) {
    const locked = lockLevels(tx, tenantId, levels);
    locked.catch(() => {});
    return { kind: 'locked', locked };
  }
  const units = requests.reduce((sum, request) => sum + request.quantity, 0);
  const after = reserveOnLevels(tx, tenantId, [
    { productId: level.productId, storeId: level.storeId, units },
  ]).then(([reserved]) => reserved);
  after.catch(() => {});
  return { kind: 'everything-reserved', level, units, after };
}
