import type { Database } from '../../platform/db/database.js';
import { newId } from '../../platform/ids.js';
import { runWithLogContext, traceIdOf, validTraceparent } from '../../platform/observability/log-context.js';
import {
  contextFromTraceparent,
  currentTraceparent,
  inSpan,
  SpanKind,
} from '../../platform/observability/tracing.js';
import type { SecretBox } from '../../platform/security/secret-box.js';
import { WakeTimer } from '../../platform/wake-timer.js';
import {
  afterFailedAttempt,
  assertValidSchedule,
  BREAKER_FAILURE_THRESHOLD_DEFAULT,
  BREAKER_OPEN_DEFAULT_MS,
  breakerAfterFailure,
  endsOutage,
  ORDER_HOLD_STRIKES_MAX,
  RETRY_SCHEDULE_DEFAULT_MS,
} from './delivery-policy.domain.js';
import type { SendOutcome, WebhookSender } from './webhook.sender.js';
import {
  type ClaimedDelivery,
  claimDueDeliveries,
  lockEndpointHealth,
  markFailed,
  markSucceeded,
  nextDueAt,
  resumeAfterOutage,
  setEndpointHealth,
} from './webhook-delivery.repository.js';
import { webhookSecretContext } from './webhook-secret.sealing.js';
import { signatureHeaders } from './webhook-signature.js';

/** Requests in flight per instance: one slow receiver occupies one slot, not the worker. */
export const DELIVERY_CONCURRENCY_DEFAULT = 16;
export const DELIVERY_CONCURRENCY_MAX = 256;
/**
 * The longest sleep. Each instance is woken for what it queues itself; this bound covers what
 * other instances queued and retries whose lease ran out on a crashed instance.
 */
export const WORKER_SLEEP_MAX_MS = 30_000;
/** Floor between wakes when something is due but another instance holds it. */
const WORKER_SLEEP_MIN_MS = 50;
const WORKER_RETRY_AFTER_ERROR_MS = 1_000;
/** A claim outlives the request timeout by this much before another instance may retry it. */
const LEASE_MARGIN_MS = 30_000;
const LAST_ERROR_LENGTH_MAX = 1_000;

export interface DeliveryTuning {
  /** Waits after each failed attempt; one more failure after the last is final (DEAD). */
  retryScheduleMs: readonly number[];
  breakerFailureThreshold: number;
  breakerOpenMs: number;
  concurrency: number;
}

export const DELIVERY_TUNING_DEFAULT: DeliveryTuning = Object.freeze({
  retryScheduleMs: RETRY_SCHEDULE_DEFAULT_MS,
  breakerFailureThreshold: BREAKER_FAILURE_THRESHOLD_DEFAULT,
  breakerOpenMs: BREAKER_OPEN_DEFAULT_MS,
  concurrency: DELIVERY_CONCURRENCY_DEFAULT,
});

/** How each attempt ended, for metrics: `failed` will be retried, `dead` will not. */
export type DeliveryResult = 'succeeded' | 'failed' | 'dead';
export type DeliveryRecorder = (result: DeliveryResult) => void;

export interface WorkerLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export function assertValidTuning(tuning: DeliveryTuning): void {
  assertValidSchedule(tuning.retryScheduleMs);
  if (!Number.isInteger(tuning.breakerFailureThreshold) || tuning.breakerFailureThreshold < 1) {
    throw new Error('the breaker threshold is a whole number of failures, at least 1');
  }
  if (!Number.isInteger(tuning.breakerOpenMs) || tuning.breakerOpenMs < 1) {
    throw new Error('the breaker open time is a positive whole number of milliseconds');
  }
  if (!Number.isInteger(tuning.concurrency) || tuning.concurrency < 1) {
    throw new Error('delivery concurrency is a whole number, at least 1');
  }
  if (tuning.concurrency > DELIVERY_CONCURRENCY_MAX) {
    throw new Error(`delivery concurrency is at most ${DELIVERY_CONCURRENCY_MAX}`);
  }
}

/**
 * Sends due deliveries without a polling loop: it sleeps until the earliest due attempt, is woken
 * at once when deliveries are queued or an attempt finishes, and claims with SKIP LOCKED plus a
 * lease, so several instances share the queue. Each claimed delivery is one attempt, bounded in
 * time; at most `concurrency` are in flight. An endpoint's deliveries go one at a time, in event
 * order (see NOT_HELD_BACK in the repository), and an open circuit fails them fast without a
 * request, so a dead receiver costs neither slots nor timeouts.
 */
export class DeliveryWorker {
  readonly #inFlight = new Set<Promise<void>>();
  #tuning: DeliveryTuning;
  readonly #timer = new WakeTimer(() => this.#cycle(), WORKER_SLEEP_MAX_MS);
  #stopped = true;

  constructor(
    private readonly database: Database,
    private readonly sender: WebhookSender,
    private readonly requestTimeoutMs: number,
    tuning: DeliveryTuning,
    private readonly logger: WorkerLogger,
    private readonly secretBox: SecretBox,
    private readonly record: DeliveryRecorder = () => {},
  ) {
    assertValidTuning(tuning);
    this.#tuning = tuning;
  }

  get tuning(): DeliveryTuning {
    return this.#tuning;
  }

  /** Takes effect from the next claim and the next failure on. */
  retune(tuning: DeliveryTuning): void {
    assertValidTuning(tuning);
    this.#tuning = tuning;
    this.notify();
  }

  start(): void {
    this.#stopped = false;
    this.#timer.start();
  }

  /** Something became due (queued, re-queued, an attempt finished): look now. */
  notify(): void {
    this.#timer.wakeIn(0);
  }

  /** Stops claiming and waits for the attempts in flight, each bounded by the request timeout. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#timer.stop();
    await Promise.allSettled([...this.#inFlight]);
  }

  async #cycle(): Promise<void> {
    try {
      const free = this.#tuning.concurrency - this.#inFlight.size;
      // Full: the next attempt to finish wakes the worker.
      if (free <= 0) return;
      // Claiming spans tenants; recording an outcome is bound to the delivery's tenant.
      const claimed = await claimDueDeliveries(this.database.system('webhook-delivery'), {
        limit: free,
        leaseSeconds: (this.requestTimeoutMs + LEASE_MARGIN_MS) / 1000,
        orderHoldStrikesMax: ORDER_HOLD_STRIKES_MAX,
        claimId: newId(),
      });
      for (const delivery of claimed) {
        const attempt: Promise<void> = this.#attempt(delivery).finally(() => {
          this.#inFlight.delete(attempt);
          this.notify();
        });
        this.#inFlight.add(attempt);
      }
      if (claimed.length === free || this.#stopped) return;
      const next = await nextDueAt(this.database.system('webhook-delivery'), ORDER_HOLD_STRIKES_MAX);
      if (next === null) return this.#timer.scheduleIn(WORKER_SLEEP_MAX_MS);
      this.#timer.scheduleIn(
        Math.max(next.getTime() - Date.now(), claimed.length === 0 ? WORKER_SLEEP_MIN_MS : 0),
      );
    } catch (error) {
      this.logger.error({ err: error }, 'webhook delivery cycle failed; retrying');
      this.#timer.scheduleIn(WORKER_RETRY_AFTER_ERROR_MS);
    }
  }

  async #attempt(delivery: ClaimedDelivery): Promise<void> {
    // The attempt's log lines (and its span) join those of the request that caused the event.
    const event = delivery.payload;
    return runWithLogContext(
      {
        correlationId: event.correlationid,
        tenant: delivery.tenant_id,
        eventId: delivery.event_id,
        ...(traceIdOf(event.traceparent) === undefined
          ? {}
          : { traceId: traceIdOf(event.traceparent) as string, traceparent: event.traceparent as string }),
      },
      () =>
        inSpan(
          'webhook deliver',
          {
            kind: SpanKind.CLIENT,
            parent: contextFromTraceparent(validTraceparent(event.traceparent)),
            attributes: {
              'omnistock.webhook.endpoint_id': delivery.endpoint_id,
              'omnistock.webhook.attempt': delivery.attempts,
              'omnistock.event.type': event.type,
            },
          },
          () => this.#attemptTraced(delivery),
        ),
    );
  }

  async #attemptTraced(delivery: ClaimedDelivery): Promise<void> {
    try {
      if (delivery.circuit_open) {
        await this.#recordFailure(delivery, {
          ok: false,
          statusCode: null,
          error: 'not sent: the endpoint is failing and its circuit is open',
        });
        return;
      }
      const { outcome, requested } = await this.#send(delivery);
      if (outcome.ok) await this.#recordSuccess(delivery, outcome.statusCode ?? 200);
      else await this.#recordFailure(delivery, outcome, requested);
    } catch (error) {
      // Only recording failed: the lease runs out and the attempt is made again (at least once).
      this.logger.error(
        { err: error, delivery_id: delivery.id, tenant: delivery.tenant_id },
        'recording a webhook attempt failed',
      );
    }
  }

  /** A delivery that cannot even be prepared fails like any attempt, so it too ends DEAD, not in a loop. */
  async #send(delivery: ClaimedDelivery): Promise<{ outcome: SendOutcome; requested: boolean }> {
    let body: string;
    let headers: Record<string, string>;
    try {
      body = JSON.stringify(delivery.payload);
      // Opened only for the moment of signing; a secret that does not open fails the attempt.
      const context = webhookSecretContext(delivery.tenant_id, delivery.endpoint_id);
      const secrets = delivery.secrets.map((sealed) => this.secretBox.open(sealed, context));
      headers = { ...signatureHeaders(delivery.event_id, new Date(), body, secrets) };
      // W3C trace context, so the receiver's trace continues ours (the delivery span when tracing).
      const traceparent = currentTraceparent();
      if (traceparent !== undefined) headers['traceparent'] = traceparent;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return { outcome: { ok: false, statusCode: null, error: `not sent: ${reason}` }, requested: false };
    }
    return { outcome: await this.sender.send(delivery.url, body, headers), requested: true };
  }

  async #recordSuccess(delivery: ClaimedDelivery, statusCode: number): Promise<void> {
    const threshold = this.#tuning.breakerFailureThreshold;
    await this.database.forTenant(delivery.tenant_id).transaction(async (tx) => {
      const failuresBefore = await lockEndpointHealth(tx, delivery.tenant_id, delivery.endpoint_id);
      if (failuresBefore === undefined) return;
      await markSucceeded(tx, delivery, statusCode);
      if (failuresBefore === 0) return;
      await setEndpointHealth(tx, delivery.tenant_id, delivery.endpoint_id, {
        consecutiveFailures: 0,
        openForSeconds: null,
      });
      if (endsOutage(failuresBefore, threshold)) {
        const resumed = await resumeAfterOutage(tx, delivery.tenant_id, delivery.endpoint_id);
        this.logger.info(
          { tenant: delivery.tenant_id, webhook_id: delivery.endpoint_id, resumed },
          'webhook endpoint recovered; its backlog is due now',
        );
      }
    });
    this.record('succeeded');
  }

  async #recordFailure(delivery: ClaimedDelivery, outcome: SendOutcome, attempted = false): Promise<void> {
    const tuning = this.#tuning;
    const decision = afterFailedAttempt(delivery.attempts, tuning.retryScheduleMs);
    await this.database.forTenant(delivery.tenant_id).transaction(async (tx) => {
      const failuresBefore = await lockEndpointHealth(tx, delivery.tenant_id, delivery.endpoint_id);
      if (failuresBefore === undefined) return;
      await markFailed(tx, delivery, {
        statusCode: outcome.statusCode,
        error: (outcome.error ?? 'failed').slice(0, LAST_ERROR_LENGTH_MAX),
        retryAfterSeconds: decision.kind === 'retry' ? decision.delayMs / 1000 : null,
      });
      // Only real requests move the breaker; failing fast while it is open must not keep it open.
      if (!attempted) return;
      const breaker = breakerAfterFailure(failuresBefore, tuning.breakerFailureThreshold);
      await setEndpointHealth(tx, delivery.tenant_id, delivery.endpoint_id, {
        consecutiveFailures: breaker.consecutiveFailures,
        openForSeconds: breaker.opens ? tuning.breakerOpenMs / 1000 : null,
      });
    });
    this.record(decision.kind === 'dead' ? 'dead' : 'failed');
    if (decision.kind === 'dead') {
      this.logger.warn(
        { tenant: delivery.tenant_id, webhook_id: delivery.endpoint_id, delivery_id: delivery.id },
        'webhook delivery is dead: its retry schedule is exhausted',
      );
    }
  }
}
