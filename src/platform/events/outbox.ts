import { type Statement, shiftPlaceholders, type Transaction } from '../db/database.js';
import { newId } from '../ids.js';
import { currentTraceparent } from '../observability/tracing.js';
import { type CloudEvent, EVENT_SOURCE } from './cloud-event.js';
import { committedOutbox } from './committed-outbox.js';

/** An event a service announces; it becomes a CloudEvent in the outbox. */
export interface DomainEvent<Data = unknown> {
  type: string;
  tenantId: string;
  /** The aggregate, for per-aggregate ordering: e.g. `stock_level`. */
  aggregateType: string;
  /** e.g. `<product_id>:<store_id>`; events of one aggregate are published in outbox order. */
  aggregateId: string;
  /** The CloudEvents subject: the resource path clients filter on. */
  subject: string;
  correlationId: string;
  /**
   * The W3C traceparent of the work that caused the event, when it is not the active one (a batch
   * serving several requests); by default the active trace's.
   */
  traceparent?: string | undefined;
  data: Data;
}

export interface OutboxWriteOptions {
  /** Send the write with COMMIT (`Transaction.commitWith`): the transaction's last statement. */
  withCommit?: boolean;
}

/** Runs the statement now, or with COMMIT when asked to. */
async function write(tx: Transaction, statement: Statement, options: OutboxWriteOptions): Promise<void> {
  if (options.withCommit === true) tx.commitWith(statement);
  else await tx.query(statement.sql, statement.params);
}

/** Columns per row in the multi-row insert below. */
const OUTBOX_COLUMNS = 6;

/**
 * Appends events to the outbox inside the caller's transaction, so an event exists if and only if
 * the change it announces committed. It is pending until the relay's broker acknowledges it (the
 * publish watermark passes its sequence).
 * `alongside`: writes whose outcome the caller does not read (the ledger rows of the change, the
 * rows the events announce), run in the same statement as data-modifying CTEs: one round trip for
 * all. An undefined entry is a write with nothing to do.
 * `withCommit`: the statement goes out with COMMIT instead of now (`Transaction.commitWith`), for a
 * caller whose transaction ends with this write: one round trip less, and no statement may follow.
 */
export async function appendToOutbox(
  tx: Transaction,
  events: readonly DomainEvent[],
  alongside: readonly (Statement | undefined)[] = [],
  options: OutboxWriteOptions = {},
): Promise<CloudEvent[]> {
  const companions = alongside.filter((statement) => statement !== undefined);
  const values: unknown[] = [];
  const ctes = companions.map((statement, index) => {
    const sql = shiftPlaceholders(statement.sql, values.length);
    values.push(...statement.params);
    return `alongside_${index + 1} AS (${sql})`;
  });
  // PostgreSQL runs a data-modifying CTE to completion whether or not the main query reads it.
  const prefix = ctes.length === 0 ? '' : `WITH ${ctes.join(', ')} `;
  if (events.length === 0) {
    if (ctes.length > 0) await write(tx, { sql: `${prefix}SELECT 1`, params: values }, options);
    return [];
  }
  const now = new Date().toISOString();
  const envelopes: CloudEvent[] = [];
  // The trace of the request (or consumer) writing the events travels inside them (see ADR 0021).
  const traceparent = currentTraceparent();
  const rows: string[] = [];
  for (const event of events) {
    const eventTraceparent = event.traceparent ?? traceparent;
    const envelope: CloudEvent = {
      specversion: '1.0',
      id: newId(),
      source: EVENT_SOURCE,
      type: event.type,
      subject: event.subject,
      time: now,
      datacontenttype: 'application/json',
      tenantid: event.tenantId,
      correlationid: event.correlationId,
      ...(eventTraceparent === undefined ? {} : { traceparent: eventTraceparent }),
      data: event.data,
    };
    envelopes.push(envelope);
    const offset = values.length;
    rows.push(
      `(${Array.from({ length: OUTBOX_COLUMNS }, (_, index) => `$${offset + index + 1}`).join(', ')})`,
    );
    values.push(
      envelope.id,
      event.tenantId,
      event.aggregateType,
      event.aggregateId,
      event.type,
      JSON.stringify(envelope),
    );
  }
  await write(
    tx,
    {
      sql: `${prefix}INSERT INTO outbox_events (id, tenant_id, aggregate_type, aggregate_id, event_type, envelope)
     VALUES ${rows.join(', ')}`,
      params: values,
    },
    options,
  );
  tx.afterCommit(() => committedOutbox.emit(envelopes));
  return envelopes;
}
