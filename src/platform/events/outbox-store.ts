import type { PlannerSettings, Queryable } from '../db/database.js';
import type { CloudEvent } from './cloud-event.js';

/**
 * The NOTIFY channel of the event log: each sequencing run announces the new head (it wakes the
 * event-log tails, and relays the sequencer lock kept out). Outbox inserts announce nothing: a
 * NOTIFY serializes its transaction's commit with every other notifier's (migration 0008).
 */
export const EVENT_LOG_CHANNEL = 'omnistock_event_log';

export interface SequencedEvent {
  id: string;
  tenant_id: string;
  sequence: number;
  envelope: CloudEvent;
}

export interface OutboxBacklog {
  pending: number;
  unsequenced: number;
  oldest_pending_created_at: Date | null;
  abandoned: number;
}

/**
 * The sequencing statement ($1: batch size, $2: advisory lock key or null). NOTIFY is delivered at
 * commit whatever its place in the transaction: it rides on the head update.
 */
export const SEQUENCE_PENDING_SQL = `WITH lock AS (
       SELECT CASE WHEN $2::bigint IS NULL THEN true ELSE pg_try_advisory_xact_lock($2::bigint) END AS acquired
     ), pending AS (
       SELECT position, row_number() OVER (ORDER BY position) AS rank
         FROM (SELECT position FROM outbox_events WHERE sequence IS NULL AND (SELECT acquired FROM lock)
                ORDER BY position LIMIT $1 FOR UPDATE) AS locked
     ), head AS (
       UPDATE event_log_head SET last_sequence = last_sequence + (SELECT count(*) FROM pending)
        WHERE EXISTS (SELECT 1 FROM pending)
        RETURNING last_sequence - (SELECT count(*) FROM pending) AS before,
                  pg_notify('${EVENT_LOG_CHANNEL}', last_sequence::text)
     ), chosen AS (
       UPDATE outbox_events AS o SET sequence = head.before + pending.rank
         FROM pending, head
        WHERE o.position = pending.position
       RETURNING o.id, o.tenant_id, o.sequence, o.envelope
     )
     SELECT id, tenant_id, sequence, envelope, true AS acquired FROM chosen
     UNION ALL
     SELECT NULL, NULL, NULL, NULL, false FROM lock WHERE NOT acquired`;

/**
 * Every statement of the relay walks an index in order and stops after a batch: the unsequenced
 * rows by position, the event log by sequence, a row by its key. The planner does not always see
 * it that way. On a table it has no statistics for yet (a new database, the first minute after a
 * deployment) its cached generic plan scans the whole outbox, twice per sequencing run; with
 * statistics it may still prefer a bitmap scan of the partial index, which visits every row
 * sequenced since the last vacuum. Both are off on the relay's own connection, so that a run costs
 * its batch whatever the table's size. JIT goes too: PostgreSQL 15 disables a scan by adding a huge
 * cost, which the one-row tables (scanned, having no index) carry past the JIT threshold, and
 * compiling took 300 ms a run. For the relay's session (`Database.session`).
 */
export const INDEX_WALKS_ONLY: PlannerSettings = {
  enable_seqscan: 'off',
  enable_bitmapscan: 'off',
  jit: 'off',
};

/**
 * Gives the next committed, unsequenced rows their event-log sequence, in outbox order, announces
 * the new head, and returns the events it sequenced (in sequence order). Rows of one aggregate
 * commit in outbox order (each writer holds the aggregate's row lock until it commits), so the
 * sequence preserves per-aggregate order. One statement, lock included, so that it can run on its
 * own in autocommit: this runs after every commit, and round trips are what a loaded machine pays
 * for. With a `lockKey`, only the holder of that advisory lock (taken by the statement, held until
 * its implicit transaction ends) sequences; the answer is undefined when another process holds it.
 */
export async function sequencePending(
  db: Queryable,
  batchSizeMax: number,
  lockKey: number | null,
): Promise<SequencedEvent[] | undefined> {
  const result = await db.query<SequencedEvent & { acquired: boolean }>(SEQUENCE_PENDING_SQL, [
    batchSizeMax,
    lockKey,
  ]);
  if (result.rows.some((row) => !row.acquired)) return undefined;
  return result.rows
    .map(({ acquired: _acquired, ...event }) => event)
    .sort((left, right) => Number(left.sequence) - Number(right.sequence));
}

/**
 * The sequenced events after `afterSequence`, in sequence order, at most `batchSizeMax`: what the
 * publisher sends next. The caller holds the publisher lease, and passes its own watermark (the one
 * in the database may trail it by a write).
 */
export async function unpublished(
  db: Queryable,
  afterSequence: number,
  batchSizeMax: number,
): Promise<SequencedEvent[]> {
  const result = await db.query<SequencedEvent>(
    `SELECT id, tenant_id, sequence, envelope FROM outbox_events
      WHERE sequence > $1 ORDER BY sequence LIMIT $2`,
    [afterSequence, batchSizeMax],
  );
  return result.rows;
}

/** The publish watermark: every event up to this sequence is acknowledged by the broker. */
export async function publishedThrough(db: Queryable): Promise<number> {
  const result = await db.query<{ through_sequence: number }>(
    'SELECT through_sequence FROM event_log_published',
  );
  return Number(result.rows[0]?.through_sequence ?? 0);
}

/**
 * The broker acknowledged every event up to `throughSequence`. Publishing goes in sequence order,
 * all or nothing per batch, so what is acknowledged is a prefix of the log: one watermark says it
 * (migration 0009). Never moves back, so a late acknowledgement cannot undo a later one.
 */
export async function markPublished(db: Queryable, throughSequence: number): Promise<void> {
  await db.query('UPDATE event_log_published SET through_sequence = greatest(through_sequence, $1)', [
    throughSequence,
  ]);
}

/** Bookkeeping of a failed attempt on the batch's first event (the one blocking the rest). */
export async function recordPublishFailure(db: Queryable, sequence: number, error: string): Promise<void> {
  await db.query('UPDATE outbox_events SET attempts = attempts + 1, last_error = $2 WHERE sequence = $1', [
    sequence,
    error.slice(0, 1000),
  ]);
}

/** Events not yet acknowledged by the broker: sequenced past the watermark, or not sequenced yet. */
export async function backlog(db: Queryable, tenantId?: string): Promise<OutboxBacklog> {
  const result = await db.query<OutboxBacklog>(
    `SELECT count(*) FILTER (WHERE abandoned_at IS NULL) AS pending,
            count(*) FILTER (WHERE sequence IS NULL) AS unsequenced,
            min(created_at) FILTER (WHERE abandoned_at IS NULL) AS oldest_pending_created_at,
            count(*) FILTER (WHERE abandoned_at IS NOT NULL) AS abandoned
       FROM outbox_events
      WHERE (sequence IS NULL OR sequence > (SELECT through_sequence FROM event_log_published))
        AND ($1::text IS NULL OR tenant_id = $1)`,
    [tenantId ?? null],
  );
  return result.rows[0] as OutboxBacklog;
}

/** `stock.updated` stays exact; `reservation.*` becomes the LIKE pattern `reservation.%`. */
function likePatternOf(type: string): string {
  const escaped = type.replaceAll('\\', '\\\\').replaceAll('%', '\\%').replaceAll('_', '\\_');
  return escaped.endsWith('.*') ? `${escaped.slice(0, -1)}%` : escaped;
}

/**
 * Events after a sequence, in order, of one tenant (or all, for the in-process tail): the event log
 * clients page and streams replay. `types` are exact types or `family.*` prefixes.
 */
export async function readEventLog(
  db: Queryable,
  filter: {
    tenantId: string | null;
    afterSequence: number;
    limit: number;
    types?: readonly string[] | undefined;
  },
): Promise<SequencedEvent[]> {
  const result = await db.query<SequencedEvent>(
    `SELECT id, tenant_id, sequence, envelope FROM outbox_events
      WHERE sequence > $2 AND ($1::text IS NULL OR tenant_id = $1)
        AND ($4::text[] IS NULL OR event_type LIKE ANY($4::text[]))
      ORDER BY sequence LIMIT $3`,
    [filter.tenantId, filter.afterSequence, filter.limit, filter.types?.map(likePatternOf) ?? null],
  );
  return result.rows;
}

export async function eventLogHead(db: Queryable): Promise<number> {
  const result = await db.query<{ last_sequence: number }>('SELECT last_sequence FROM event_log_head');
  return result.rows[0]?.last_sequence ?? 0;
}

/**
 * Deletes published events older than the retention, oldest first, at most `batchSizeMax`: the event
 * log (GET /events, SSE resume, replay) reaches back that far. Unpublished events are never deleted.
 * The log is walked in sequence order, the order events become deletable in, and the walk stops at
 * the first event still inside the retention: an older event sequenced after it (a transaction that
 * started earlier and committed later) waits for it, so the log stays a contiguous suffix.
 */
export async function purgePublishedEvents(
  db: Queryable,
  olderThanSeconds: number,
  batchSizeMax: number,
): Promise<number> {
  const result = await db.query(
    `WITH oldest AS (
       SELECT position, sequence, created_at FROM outbox_events
        WHERE sequence <= (SELECT through_sequence FROM event_log_published)
        ORDER BY sequence LIMIT $2
     ), retained_from AS (
       SELECT coalesce(min(sequence) FILTER (WHERE created_at >= now() - make_interval(secs => $1)),
                       max(sequence) + 1) AS sequence
         FROM oldest
     )
     DELETE FROM outbox_events
      WHERE position IN (SELECT position FROM oldest WHERE sequence < (SELECT sequence FROM retained_from))`,
    [olderThanSeconds, batchSizeMax],
  );
  return result.rowCount;
}
