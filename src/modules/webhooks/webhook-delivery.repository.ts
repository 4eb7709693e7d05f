import type { Queryable } from '../../platform/db/database.js';
import type { CloudEvent } from '../../platform/events/cloud-event.js';
import type { DeliveryStatus } from './webhooks.schemas.js';

export interface DeliveryRow {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  event_sequence: number;
  status: DeliveryStatus;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  last_attempt_at: Date | null;
  next_attempt_at: Date | null;
  delivered_at: Date | null;
  created_at: Date;
}

/** A delivery taken by one worker for one attempt, with all it needs to send it. */
export interface ClaimedDelivery {
  tenant_id: string;
  id: string;
  endpoint_id: string;
  event_id: string;
  payload: CloudEvent;
  /** Including the attempt about to be made. */
  attempts: number;
  claim_id: string;
  url: string;
  /** The endpoint's circuit is open: fail fast, without a request. */
  circuit_open: boolean;
  consecutive_failures: number;
  secrets: string[];
}

export interface QueuedEvent {
  id: string;
  type: string;
  sequence: number;
  envelope: CloudEvent;
}

const DELIVERY_COLUMNS = `id, endpoint_id, event_id, event_type, event_sequence, status, attempts,
  last_status_code, last_error, last_attempt_at, next_attempt_at, delivered_at, created_at`;
const OWED = `status IN ('PENDING', 'FAILED')`;
/**
 * Head of line: a delivery waits while an earlier event of the same endpoint is still owed, unless
 * that one has struck out (ORDER_HOLD_STRIKES_MAX) and no longer holds the line. The argument
 * names the query parameter that carries the limit.
 */
const NOT_HELD_BACK = (strikesParameter: string) => `NOT EXISTS (
  SELECT 1 FROM webhook_deliveries p
   WHERE p.tenant_id = c.tenant_id AND p.endpoint_id = c.endpoint_id AND p.${OWED}
     AND p.event_sequence < c.event_sequence AND p.order_strikes < ${strikesParameter})`;
const REQUEUE = `status = 'PENDING', attempts = 0, order_strikes = 0, next_attempt_at = now(),
  claim_id = NULL, locked_until = NULL, updated_at = now()`;

/** Queues an event for the given endpoints; an event already queued for an endpoint is left as it is. */
export async function insertDeliveries(
  db: Queryable,
  tenantId: string,
  event: QueuedEvent,
  deliveries: ReadonlyArray<{ id: string; endpoint_id: string }>,
): Promise<number> {
  if (deliveries.length === 0) return 0;
  const result = await db.query(
    `INSERT INTO webhook_deliveries
       (tenant_id, id, endpoint_id, event_id, event_type, event_sequence, payload, status, next_attempt_at)
     SELECT $1, r.id, r.endpoint_id, $2, $3, $4, $5::jsonb, 'PENDING', now()
       FROM jsonb_to_recordset($6::jsonb) AS r(id uuid, endpoint_id uuid)
     ON CONFLICT ON CONSTRAINT webhook_deliveries_event_unique DO NOTHING`,
    [
      tenantId,
      event.id,
      event.type,
      event.sequence,
      JSON.stringify(event.envelope),
      JSON.stringify(deliveries),
    ],
  );
  return result.rowCount;
}

/** Queues events for one endpoint, re-queueing (now, fresh schedule) those it already had. */
export async function queueOrRequeue(
  db: Queryable,
  tenantId: string,
  endpointId: string,
  events: ReadonlyArray<QueuedEvent & { delivery_id: string }>,
): Promise<number> {
  if (events.length === 0) return 0;
  const rows = events.map((event) => ({
    id: event.delivery_id,
    event_id: event.id,
    event_type: event.type,
    event_sequence: event.sequence,
    payload: event.envelope,
  }));
  const result = await db.query(
    `INSERT INTO webhook_deliveries AS d
       (tenant_id, id, endpoint_id, event_id, event_type, event_sequence, payload, status, next_attempt_at)
     SELECT $1, r.id, $2, r.event_id, r.event_type, r.event_sequence, r.payload, 'PENDING', now()
       FROM jsonb_to_recordset($3::jsonb)
         AS r(id uuid, event_id uuid, event_type text, event_sequence bigint, payload jsonb)
     ON CONFLICT ON CONSTRAINT webhook_deliveries_event_unique DO UPDATE SET ${REQUEUE}`,
    [tenantId, endpointId, JSON.stringify(rows)],
  );
  return result.rowCount;
}

export async function requeueDelivery(
  db: Queryable,
  tenantId: string,
  endpointId: string,
  deliveryId: string,
): Promise<DeliveryRow | undefined> {
  const result = await db.query<DeliveryRow>(
    `UPDATE webhook_deliveries SET ${REQUEUE}
      WHERE tenant_id = $1 AND endpoint_id = $2 AND id = $3 RETURNING ${DELIVERY_COLUMNS}`,
    [tenantId, endpointId, deliveryId],
  );
  return result.rows[0];
}

/** Newest first; fetches `limit + 1` rows before `beforeId` so the caller knows whether more exist. */
export async function listDeliveries(
  db: Queryable,
  tenantId: string,
  endpointId: string,
  filter: { status: DeliveryStatus | undefined; beforeId: string | undefined; limit: number },
): Promise<DeliveryRow[]> {
  const result = await db.query<DeliveryRow>(
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries
      WHERE tenant_id = $1 AND endpoint_id = $2 AND ($3::text IS NULL OR status = $3)
        AND ($4::uuid IS NULL OR id < $4)
      ORDER BY id DESC LIMIT $5`,
    [tenantId, endpointId, filter.status ?? null, filter.beforeId ?? null, filter.limit + 1],
  );
  return result.rows;
}

/**
 * Takes up to `limit` due deliveries for one attempt each, across tenants, safely beside other
 * instances (SKIP LOCKED, then a lease). Counts the attempt at once, so a crash mid-send still
 * walks the schedule; the lease lets another instance retry after `leaseSeconds`.
 */
export async function claimDueDeliveries(
  db: Queryable,
  options: { limit: number; leaseSeconds: number; orderHoldStrikesMax: number; claimId: string },
): Promise<ClaimedDelivery[]> {
  const result = await db.query<ClaimedDelivery>(
    `WITH candidates AS (
       SELECT c.tenant_id, c.id
         FROM webhook_deliveries c
         JOIN webhook_endpoints e ON e.tenant_id = c.tenant_id AND e.id = c.endpoint_id
        WHERE c.${OWED} AND c.next_attempt_at <= now()
          AND (c.locked_until IS NULL OR c.locked_until <= now())
          AND e.enabled AND ${NOT_HELD_BACK('$3')}
        ORDER BY c.next_attempt_at
        LIMIT $1
        FOR UPDATE OF c SKIP LOCKED
     ), claimed AS (
       UPDATE webhook_deliveries d
          SET claim_id = $4, locked_until = now() + make_interval(secs => $2), attempts = d.attempts + 1,
              last_attempt_at = now(), updated_at = now()
         FROM candidates WHERE d.tenant_id = candidates.tenant_id AND d.id = candidates.id
       RETURNING d.tenant_id, d.id, d.endpoint_id, d.event_id, d.payload, d.attempts, d.claim_id
     )
     SELECT claimed.*, e.url, e.consecutive_failures,
            COALESCE(e.circuit_open_until > now(), false) AS circuit_open,
            ARRAY(SELECT s.secret FROM webhook_secrets s
                   WHERE s.tenant_id = claimed.tenant_id AND s.endpoint_id = claimed.endpoint_id
                     AND (s.expires_at IS NULL OR s.expires_at > now())
                   ORDER BY s.created_at DESC, s.id DESC) AS secrets
       FROM claimed JOIN webhook_endpoints e ON e.tenant_id = claimed.tenant_id AND e.id = claimed.endpoint_id`,
    [options.limit, options.leaseSeconds, options.orderHoldStrikesMax, options.claimId],
  );
  return result.rows;
}

/** When the earliest delivery that is not held back falls due; null when nothing is owed. */
export async function nextDueAt(db: Queryable, orderHoldStrikesMax: number): Promise<Date | null> {
  const result = await db.query<{ next_attempt_at: Date }>(
    `SELECT c.next_attempt_at FROM webhook_deliveries c
       JOIN webhook_endpoints e ON e.tenant_id = c.tenant_id AND e.id = c.endpoint_id
      WHERE c.${OWED} AND (c.locked_until IS NULL OR c.locked_until <= now())
        AND e.enabled AND ${NOT_HELD_BACK('$1')}
      ORDER BY c.next_attempt_at LIMIT 1`,
    [orderHoldStrikesMax],
  );
  return result.rows[0]?.next_attempt_at ?? null;
}

/** The endpoint's breaker counter, locked against concurrent completions (the delivery FK still works). */
export async function lockEndpointHealth(
  db: Queryable,
  tenantId: string,
  endpointId: string,
): Promise<number | undefined> {
  const result = await db.query<{ consecutive_failures: number }>(
    'SELECT consecutive_failures FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE',
    [tenantId, endpointId],
  );
  return result.rows[0]?.consecutive_failures;
}

export async function setEndpointHealth(
  db: Queryable,
  tenantId: string,
  endpointId: string,
  health: { consecutiveFailures: number; openForSeconds: number | null },
): Promise<void> {
  await db.query(
    `UPDATE webhook_endpoints
        SET consecutive_failures = $3,
            circuit_open_until = CASE WHEN $4::float8 IS NULL THEN NULL
                                      ELSE now() + make_interval(secs => $4::float8) END
      WHERE tenant_id = $1 AND id = $2`,
    [tenantId, endpointId, health.consecutiveFailures, health.openForSeconds],
  );
}

/** Records a 2xx; false when the delivery was re-queued (or deleted) while the attempt was under way. */
export async function markSucceeded(
  db: Queryable,
  claim: Pick<ClaimedDelivery, 'tenant_id' | 'id' | 'claim_id'>,
  statusCode: number,
): Promise<boolean> {
  const result = await db.query(
    `UPDATE webhook_deliveries
        SET status = 'SUCCEEDED', next_attempt_at = NULL, claim_id = NULL, locked_until = NULL,
            last_status_code = $4, last_error = NULL, delivered_at = now(), updated_at = now()
      WHERE tenant_id = $1 AND id = $2 AND claim_id = $3`,
    [claim.tenant_id, claim.id, claim.claim_id, statusCode],
  );
  return result.rowCount === 1;
}

/** Records a failed attempt: retried after `retryAfterSeconds`, or DEAD when that is null. */
export async function markFailed(
  db: Queryable,
  claim: Pick<ClaimedDelivery, 'tenant_id' | 'id' | 'claim_id'>,
  failure: {
    statusCode: number | null;
    error: string;
    retryAfterSeconds: number | null;
  },
): Promise<boolean> {
  const result = await db.query(
    `UPDATE webhook_deliveries
        SET status = CASE WHEN $6::float8 IS NULL THEN 'DEAD' ELSE 'FAILED' END,
            next_attempt_at = CASE WHEN $6::float8 IS NULL THEN NULL
                                   ELSE now() + make_interval(secs => $6::float8) END,
            order_strikes = order_strikes + 1,
            claim_id = NULL, locked_until = NULL, last_status_code = $4, last_error = $5, updated_at = now()
      WHERE tenant_id = $1 AND id = $2 AND claim_id = $3`,
    [claim.tenant_id, claim.id, claim.claim_id, failure.statusCode, failure.error, failure.retryAfterSeconds],
  );
  return result.rowCount === 1;
}

/** The endpoint is back: what it still owes is due now and its failures no longer hold the line. */
export async function resumeAfterOutage(
  db: Queryable,
  tenantId: string,
  endpointId: string,
): Promise<number> {
  const result = await db.query(
    `UPDATE webhook_deliveries
        SET next_attempt_at = LEAST(next_attempt_at, now()), order_strikes = 0, updated_at = now()
      WHERE tenant_id = $1 AND endpoint_id = $2 AND ${OWED} AND claim_id IS NULL`,
    [tenantId, endpointId],
  );
  return result.rowCount;
}

/** Deletes up to `limit` finished deliveries older than the retention; returns how many. */
export async function purgeFinishedDeliveries(
  db: Queryable,
  retentionSeconds: number,
  limit: number,
): Promise<number> {
  const result = await db.query(
    `DELETE FROM webhook_deliveries WHERE (tenant_id, id) IN (
       SELECT tenant_id, id FROM webhook_deliveries
        WHERE status IN ('SUCCEEDED', 'DEAD') AND updated_at < now() - make_interval(secs => $1)
        LIMIT $2)`,
    [retentionSeconds, limit],
  );
  return result.rowCount;
}
