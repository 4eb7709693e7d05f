/**
 * How omnistock treats every dependency outside the process, in one place: how long it waits, what
 * it retries, when it stops trying for a while. Adapters take their figures from here (or from the
 * configuration options named below), so the table in docs/operations.md has one source.
 *
 * Retries follow one rule: only idempotent operations, only transient errors, with exponential
 * backoff and jitter. A database transaction is not known to be idempotent, so it is never retried
 * here; a broker publish is (the message id de-duplicates), so the relay retries it; a webhook
 * delivery is (the receiver de-duplicates on `webhook-id`), so the delivery worker retries it.
 */

/** PostgreSQL (PGlite runs in the process and needs none of this). */
export const DATABASE_POLICY = {
  /** Waiting for a pooled connection, or for a new one to open. */
  connectTimeoutMs: 5_000,
  /** DATABASE_STATEMENT_TIMEOUT_MS bounds a statement on the server; the client gives up this much later. */
  queryTimeoutMarginMs: 1_000,
  /** Consecutive connectivity failures that open the breaker: calls then fail fast with 503. */
  breakerThreshold: 5,
  breakerHalfOpenAfterMs: 2_000,
  /** Bulkhead: calls admitted per pooled connection (running, or waiting for a connection). */
  callsInFlightPerConnection: 4,
  /** …and calls that may queue for admission per pooled connection; beyond, 503 at once. */
  callsQueuedPerConnection: 16,
} as const;

/** The Redis read cache: a slow answer is a miss, never a wait. */
export const CACHE_POLICY = {
  commandTimeoutMs: 100,
  connectTimeoutMs: 2_000,
  breakerThreshold: 5,
  breakerHalfOpenAfterMs: 2_000,
  /** Reconnect backoff: attempt × step, capped. */
  reconnectDelayStepMs: 200,
  reconnectDelayMaxMs: 5_000,
} as const;

/**
 * The broker. Publish timeout (BROKER_PUBLISH_TIMEOUT_MS), the longest retry pause
 * (BROKER_RETRY_DELAY_MAX_MS) and the breaker's open time (BROKER_BREAKER_HALF_OPEN_AFTER_MS) are
 * configuration; the rest is fixed here.
 */
export const BROKER_POLICY = {
  connectTimeoutMs: 10_000,
  breakerThreshold: 5,
  retryDelayMinMs: 100,
} as const;
