import type { Statement, Transaction } from '../../platform/db/database.js';
import { appendToOutbox, type DomainEvent, type OutboxWriteOptions } from '../../platform/events/outbox.js';
import { actorOf, type RequestContext } from '../../platform/http/request-context.js';
import { newId } from '../../platform/ids.js';
import { InventoryEventTypes, type StockChangedData } from './inventory.events.js';
import { movementsInsert, type NewMovement } from './movement.repository.js';
import { assertLevelInvariant, sellableQuantityOf } from './stock.domain.js';
import type { StockLevelRow } from './stock.repository.js';

/** Who caused a change: a request, or the system itself (expiry). */
export interface ChangeOrigin {
  tenantId: string;
  correlationId: string;
  actor: string;
  /** The trace of the cause when it is not the active one (a batch serving several requests). */
  traceparent?: string | undefined;
}

export function originOf(context: RequestContext): ChangeOrigin {
  return { tenantId: context.tenantId, correlationId: context.correlationId, actor: actorOf(context) };
}

/** One level after a write, and by how much the write moved it. */
export interface LevelChange {
  after: StockLevelRow;
  quantityChange: number;
  reservedChange: number;
  reason: string;
  referenceId?: string | null;
  userId?: string | null;
  note?: string | null;
  /**
   * False when the ledger already accounts for the change (a rebuild from the ledger): the event
   * reports it, no ledger row is added.
   */
  ledgered?: boolean;
  /** Who caused this change, when a batch has several causes; the call's origin by default. */
  origin?: ChangeOrigin;
  /** `stock.updated` unless the write created the level. */
  eventType?: typeof InventoryEventTypes.stockCreated | typeof InventoryEventTypes.stockUpdated;
}

/**
 * The bookkeeping of every stock write, in the writer's transaction: checks the invariant, appends
 * a ledger row for each change of on-hand, and one `stock.updated` event per level change (plus the
 * caller's own events) to the outbox, both in a single statement, with the caller's `alongside`
 * writes (the rows its events announce). With `withCommit` that statement is the transaction's last
 * and goes out with COMMIT.
 */
export async function recordLevelChanges(
  tx: Transaction,
  origin: ChangeOrigin,
  changes: readonly LevelChange[],
  domainEvents: readonly DomainEvent[] = [],
  alongside: readonly Statement[] = [],
  options: OutboxWriteOptions = {},
): Promise<void> {
  const movements: NewMovement[] = [];
  const events: DomainEvent[] = [];
  for (const change of changes) {
    const { after } = change;
    const cause = change.origin ?? origin;
    assertLevelInvariant(after);
    const previousQuantity = after.quantity - change.quantityChange;
    const previousReserved = after.reserved - change.reservedChange;
    if (change.quantityChange !== 0 && change.ledgered !== false) {
      movements.push({
        id: newId(),
        tenantId: cause.tenantId,
        productId: after.product_id,
        storeId: after.store_id,
        quantityChange: change.quantityChange,
        quantityAfter: after.quantity,
        reason: change.reason,
        actor: cause.actor,
        userId: change.userId ?? null,
        referenceId: change.referenceId ?? null,
        correlationId: cause.correlationId,
        note: change.note ?? null,
      });
    }
    const data: StockChangedData = {
      product_id: after.product_id,
      store_id: after.store_id,
      previous_quantity: previousQuantity,
      new_quantity: after.quantity,
      quantity_change: change.quantityChange,
      previous_reserved: previousReserved,
      new_reserved: after.reserved,
      available: sellableQuantityOf(after),
      reason: change.reason,
      reference_id: change.referenceId ?? null,
      version: after.version,
    };
    events.push(stockEvent(cause, change.eventType ?? InventoryEventTypes.stockUpdated, after, data));
  }
  await appendToOutbox(tx, [...events, ...domainEvents], [movementsInsert(movements), ...alongside], options);
}

/** An event about one stock level, ordered with the other events of that level. */
export function stockEvent<Data>(
  origin: ChangeOrigin,
  type: string,
  level: StockLevelRow,
  data: Data,
): DomainEvent<Data> {
  return {
    type,
    tenantId: origin.tenantId,
    aggregateType: 'stock_level',
    aggregateId: `${level.product_id}:${level.store_id}`,
    subject: `stock/${level.product_id}/${level.store_id}`,
    correlationId: origin.correlationId,
    traceparent: origin.traceparent,
    data,
  };
}
