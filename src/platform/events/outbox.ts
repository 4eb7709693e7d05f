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

/** The types of the insert's parameters below, one array (or JSON array) per column. */
const OUTBOX_COLUMNS = ['uuid[]', 'text[]', 'text[]', 'text[]', 'text[]', 'jsonb'] as const;

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
  // The trace of the request (or consumer) writing the events travels inside them (see ADR 0021).
  const traceparent = currentTraceparent();
  const envelopes = events.map((event): CloudEvent => {
    const eventTraceparent = event.traceparent ?? traceparent;
    return {
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
  });
  const offset = values.length;
  values.push(
    envelopes.map((envelope) => envelope.id),
    events.map((event) => event.tenantId),
    events.map((event) => event.aggregateType),
    events.map((event) => event.aggregateId),
    events.map((event) => event.type),
    // One JSON array: serialised once here and parsed once there, with no array-literal escaping.
    JSON.stringify(envelopes),
  );
  const [ids, tenants, aggregateTypes, aggregateIds, types, envelopesJson] = OUTBOX_COLUMNS.map(
    (column, index) => `$${offset + index + 1}::${column}`,
  );
  await write(
    tx,
    {
      // The same text for one event or hundreds, so the pool prepares it once per connection.
      // Positions are given in insert order: the events' order (ORDER BY the ordinal).
      sql: `${prefix}INSERT INTO outbox_events (id, tenant_id, aggregate_type, aggregate_id, event_type, envelope)
     SELECT event.id, event.tenant_id, event.aggregate_type, event.aggregate_id, event.event_type, event.envelope
       FROM ROWS FROM (unnest(${ids}, ${tenants}, ${aggregateTypes}, ${aggregateIds}, ${types}),
                       jsonb_array_elements(${envelopesJson}))
            WITH ORDINALITY AS event(id, tenant_id, aggregate_type, aggregate_id, event_type, envelope, ordinal)
      ORDER BY event.ordinal`,
      params: values,
    },
    options,
  );
  tx.afterCommit(() => committedOutbox.emit(envelopes));
  return envelopes;
}
