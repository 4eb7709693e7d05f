import {
  BrokenCircuitError,
  type CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleAll,
  type IBackoff,
} from 'cockatiel';
import { type BreakerState, breakerStateOf } from '../breaker-state.js';
import { CoalescingRunner } from '../coalescing-runner.js';
import type { Database, Queryable } from '../db/database.js';
import { BROKER_POLICY } from '../dependency-policies.js';
import { withTimeout } from '../timing.js';
import { type Broker, type BrokerMessage, subjectOf } from './broker.js';
import { committedOutbox } from './committed-outbox.js';
import {
  EVENT_LOG_CHANNEL,
  markPublished,
  recordPublishFailure,
  type SequencedEvent,
  sequencePending,
  unpublished,
} from './outbox-store.js';

export interface OutboxRelayOptions {
  /** Events sequenced or published per transaction. */
  batchSizeMax: number;
  /** The slow safety sweep for what a missed notification or a crash left behind. */
  sweepIntervalMs: number;
  /** A publish the broker has not acknowledged by then counts as failed. */
  publishTimeoutMs: number;
  /**
   * `advisory-lock`: several processes share the database (PostgreSQL); one at a time sequences and
   * publishes, under a transaction-scoped advisory lock. `single-process`: PGlite, one process.
   */
  exclusivity: 'advisory-lock' | 'single-process';
  /** Consecutive failures that open the breaker, and how long it stays open. */
  breakerThreshold: number;
  breakerHalfOpenAfterMs: number;
  /** The longest pause between publish attempts while the broker is failing. */
  retryDelayMaxMs: number;
  /** Told of every publish attempt's outcome (metrics). */
  onPublish?: (outcome: 'acknowledged' | 'failed', events: number) => void;
  /** Told of the events this process sequenced, in order, once they are committed (the local tail). */
  onSequenced?: (events: readonly SequencedEvent[]) => void;
}

export interface RelayLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

/** Any fixed key: the relay's lock among all omnistock instances sharing a database. */
const SEQUENCER_LOCK_KEY = 7_340_213_902;
const PUBLISHER_LOCK_KEY = 7_340_213_903;
/** Another instance holds the lock: look again this soon, so nothing it did not see is left behind. */
const LOCK_BUSY_RETRY_MS = 50;

/**
 * Moves committed outbox rows to the broker. It wakes on commit (in-process, after every commit of
 * an outbox row in this process), not on a timer; the timer is only the safety sweep for what a
 * crash between a commit and its sequencing left behind. Each cycle first gives new rows
 * their event-log sequence (commit order), then publishes unacknowledged events in sequence order
 * and marks them `synced_at` once the broker acknowledged. Failures back off exponentially with
 * jitter behind a circuit breaker; nothing is skipped, so order per aggregate holds and nothing is
 * lost — a retry may repeat a publish, which the broker (message id) or the consumers' inbox absorb.
 * Sequencing never waits for the broker: the event log (and the live streams that follow it) stays
 * current through a broker outage; only publishing backs off.
 */
export class OutboxRelay {
  readonly #breaker: CircuitBreakerPolicy;
  readonly #backoffFactory: ExponentialBackoff<unknown>;
  #backoff: IBackoff<unknown> | undefined;
  /** Sequencing and publishing run apart: a slow or failing broker never delays the event log. */
  readonly #sequencer = new CoalescingRunner(() => this.#sequenceStep());
  readonly #publisher = new CoalescingRunner(() => this.#publishStep());
  #retryTimer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #unlisten: (() => Promise<void>) | undefined;
  #unsubscribeLocal: (() => void) | undefined;
  /** Another instance held the sequencer lock when this one last tried. */
  #sequencingLockedOut = false;
  #stopped = true;

  constructor(
    private readonly database: Database,
    private readonly broker: Broker,
    private readonly options: OutboxRelayOptions,
    private readonly logger: RelayLogger,
  ) {
    this.#backoffFactory = new ExponentialBackoff({
      initialDelay: BROKER_POLICY.retryDelayMinMs,
      maxDelay: options.retryDelayMaxMs,
    });
    this.#breaker = circuitBreaker(handleAll, {
      halfOpenAfter: options.breakerHalfOpenAfterMs,
      breaker: new ConsecutiveBreaker(options.breakerThreshold),
    });
    this.#breaker.onStateChange((state) =>
      this.logger.info({ broker: broker.name, state: CircuitState[state] }, 'broker circuit breaker'),
    );
  }

  get breakerState(): BreakerState {
    return breakerStateOf(this.#breaker.state);
  }

  async start(): Promise<void> {
    this.#stopped = false;
    this.#sequencer.restart();
    this.#publisher.restart();
    // Commits in this process wake it directly: writes issue no NOTIFY (migration 0008).
    this.#unsubscribeLocal = committedOutbox.subscribe(() => this.wake());
    // Another instance's sequencing run is over (its one NOTIFY): if it kept us out, go now.
    this.#unlisten = await this.database.listen(EVENT_LOG_CHANNEL, () => {
      if (this.#sequencingLockedOut) this.wake();
    });
    this.#sweepTimer = setInterval(() => this.wake(), this.options.sweepIntervalMs);
    this.#sweepTimer.unref();
    this.wake();
  }

  /** Sequences what committed, then publishes; now, or right after the run under way. */
  wake(): void {
    this.#sequencer.wake();
  }

  /**
   * The sequencing statement this process has under way, if any. Its NOTIFY can arrive before its
   * answer: the event-log tail waits for it rather than read back what it is about to be offered.
   */
  sequencingUnderWay(): Promise<void> | undefined {
    return this.#sequencer.underWay;
  }

  /** Stops waking, lets the cycle under way finish, then publishes what it can within `timeoutMs`. */
  async stop(flushTimeoutMs: number): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#sweepTimer);
    clearTimeout(this.#retryTimer);
    this.#unsubscribeLocal?.();
    await this.#unlisten?.();
    await this.#sequencer.stop();
    await this.#publisher.stop();
    let flushTimer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      flushTimer = setTimeout(resolve, flushTimeoutMs);
    });
    await Promise.race([this.#drain().catch(() => {}), deadline]);
    clearTimeout(flushTimer);
  }

  async #sequenceStep(): Promise<void> {
    try {
      await this.#sequenceAll();
    } catch (error) {
      // The database, not the broker: the next commit, NOTIFY or sweep tries again.
      this.logger.warn({ err: error }, 'sequencing the outbox failed; will retry');
    }
    this.#publisher.wake();
  }

  async #publishStep(): Promise<void> {
    // While the broker is failing, the retry timer alone decides when to try again, however often
    // commits wake the publisher meanwhile.
    if (this.#retryTimer !== undefined) return;
    try {
      await this.#publishAll();
      this.#backoff = undefined;
    } catch (error) {
      this.#scheduleRetry(error);
    }
  }

  #scheduleRetry(error: unknown): void {
    this.#backoff = this.#backoff === undefined ? this.#backoffFactory.next() : this.#backoff.next(undefined);
    const delayMs =
      error instanceof BrokenCircuitError
        ? Math.max(this.#backoff.duration, this.options.breakerHalfOpenAfterMs)
        : this.#backoff.duration;
    this.logger.warn(
      { err: error, broker: this.broker.name, retry_in_ms: Math.round(delayMs) },
      'outbox publish failed; will retry',
    );
    if (this.#stopped) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#publisher.wake();
    }, delayMs);
    this.#retryTimer.unref();
  }

  async #sequenceAll(): Promise<void> {
    this.#sequencingLockedOut = false;
    for (;;) {
      // The relay serves every tenant: one of the named cross-tenant jobs (ADR 0017).
      const sequenced = await sequencePending(
        this.database.system('outbox-relay'),
        this.options.batchSizeMax,
        this.options.exclusivity === 'advisory-lock' ? SEQUENCER_LOCK_KEY : null,
      );
      if (sequenced === undefined) {
        this.#sequencingLockedOut = true;
        return this.#wakeSoon(this.#sequencer);
      }
      if (sequenced.length > 0) this.options.onSequenced?.(sequenced);
      // A short batch took everything committed: a later commit wakes us again.
      if (sequenced.length < this.options.batchSizeMax) return;
    }
  }

  /** Publishes until nothing is left; throws on the first publish failure. */
  async #publishAll(): Promise<void> {
    for (;;) {
      const published = await this.#publishBatch();
      if (published === undefined) return this.#wakeSoon(this.#publisher);
      if (published < this.options.batchSizeMax) return;
    }
  }

  /**
   * The holder of the lock may have looked before our rows committed and be done by now: try again
   * shortly rather than trust it to have seen them.
   */
  #wakeSoon(runner: CoalescingRunner): void {
    if (this.#stopped) return;
    setTimeout(() => runner.wake(), LOCK_BUSY_RETRY_MS).unref();
  }

  /** Sequences and publishes everything now, whatever the backoff (shutdown flush). */
  async #drain(): Promise<void> {
    await this.#sequenceAll();
    await this.#publishAll();
  }

  /**
   * Publishes the oldest unacknowledged events and marks them, as the only publisher among the
   * processes sharing the database (PostgreSQL): under a transaction-scoped advisory lock, taken by
   * the statement that reads the events, so that a crash releases it. Undefined when another holds
   * it. Sequencing has a lock of its own and never waits on a publish.
   */
  async #publishBatch(): Promise<number | undefined> {
    // The relay serves every tenant: one of the named cross-tenant jobs (ADR 0017).
    const everyTenant = this.database.system('outbox-relay');
    if (this.options.exclusivity === 'single-process') return this.#publishNext(everyTenant, null);
    return everyTenant.transaction((tx) => this.#publishNext(tx, PUBLISHER_LOCK_KEY));
  }

  async #publishNext(db: Queryable, lockKey: number | null): Promise<number | undefined> {
    const events = await unpublished(db, this.options.batchSizeMax, lockKey);
    if (events === undefined || events.length === 0) return events?.length;
    try {
      await this.#breaker.execute(() =>
        withTimeout(
          this.broker.publish(events.map(toMessage)),
          this.options.publishTimeoutMs,
          'broker acknowledgement',
        ),
      );
    } catch (error) {
      this.options.onPublish?.('failed', events.length);
      const first = events[0] as SequencedEvent;
      await recordPublishFailure(
        this.database.system('outbox-relay'),
        first.id,
        error instanceof Error ? error.message : String(error),
      ).catch(() => {});
      throw error;
    }
    await markPublished(
      db,
      events.map((event) => event.id),
    );
    this.options.onPublish?.('acknowledged', events.length);
    return events.length;
  }
}

function toMessage(event: SequencedEvent): BrokerMessage {
  const headers: Record<string, string> = {};
  if (event.envelope.traceparent !== undefined) headers['traceparent'] = event.envelope.traceparent;
  return {
    id: event.id,
    subject: subjectOf(event.envelope),
    sequence: event.sequence,
    envelope: event.envelope,
    headers,
  };
}
