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
import type { Database, DedicatedSession } from '../db/database.js';
import { BROKER_POLICY } from '../dependency-policies.js';
import { withTimeout } from '../timing.js';
import { type Broker, type BrokerMessage, subjectOf } from './broker.js';
import { committedOutbox } from './committed-outbox.js';
import {
  EVENT_LOG_CHANNEL,
  INDEX_WALKS_ONLY,
  markPublished,
  publishedThrough,
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
  /**
   * Sequencing runs start at least this far apart. Under a stream of commits (a flash sale commits
   * a batch every few milliseconds) a run then takes the events of several commits, not one: fewer
   * statements, notifications and publishes for the same events, at the cost of at most this much
   * latency. A commit on a quiet system is sequenced at once.
   */
  sequenceIntervalMinMs?: number;
  /**
   * The publish watermark is written at most this often (0: after every acknowledged batch). Each
   * write is a commit, a WAL flush the writers' commits queue behind, and under load the publisher
   * acknowledges a batch every few milliseconds. What a later write would have recorded is only
   * ever published again by the next lease holder (at least once, absorbed by message ids and the
   * consumers' inbox); stopping writes the last one.
   */
  watermarkIntervalMinMs?: number;
  /** A publish the broker has not acknowledged by then counts as failed. */
  publishTimeoutMs: number;
  /**
   * `advisory-lock`: several processes share the database (PostgreSQL); one at a time sequences,
   * under a transaction-scoped advisory lock, and one publishes, under a lease (a session-scoped
   * advisory lock held as long as its session lasts). `single-process`: PGlite, one process.
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
/** Another instance holds the sequencer lock: look again this soon, so nothing it did not see is left behind. */
const LOCK_BUSY_RETRY_MS = 50;
/**
 * Another instance held the publisher lease when this one had sequenced events: ask once more this
 * much later. The holder is woken by every sequencing run's announcement and publishes them; asking
 * again is for taking over should it be gone before it did.
 */
const LEASE_RETRY_MS = 1_000;
/** Events sequenced here and kept for the publisher; past this, it reads them back instead. */
const HANDED_OFF_MAX = 10_000;

/** The publisher's right to publish, and what it knows the broker acknowledged. */
interface PublisherLease {
  session: DedicatedSession;
  /** The publish watermark: the lease holder alone moves it, so its own copy is the truth. */
  publishedThrough: number;
  /** What of it is written to the database, where the next holder would start. */
  writtenThrough: number;
}

/**
 * Moves committed outbox rows to the broker. It wakes on commit (in-process, after every commit of
 * an outbox row in this process), not on a timer; the timer is only the safety sweep for what a
 * crash between a commit and its sequencing left behind. Each cycle first gives new rows
 * their event-log sequence (commit order), then publishes unacknowledged events in sequence order
 * and moves the publish watermark once the broker acknowledged. Failures back off exponentially with
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
  readonly #sequencer: CoalescingRunner;
  readonly #publisher = new CoalescingRunner(() => this.#publishStep());
  /**
   * Writes the watermark behind the publisher, one write at a time with the latest value, so that
   * the next batch goes to the broker without waiting for the database.
   */
  readonly #watermarkWriter: CoalescingRunner;
  #retryTimer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #unlisten: (() => Promise<void>) | undefined;
  #unsubscribeLocal: (() => void) | undefined;
  /** Another instance held the sequencer lock when this one last tried. */
  #sequencingLockedOut = false;
  /** The relay's own connection (see DedicatedSession): sequencing, and publishing under the lease. */
  #session: DedicatedSession | undefined;
  #opening: Promise<DedicatedSession> | undefined;
  #lease: PublisherLease | undefined;
  #leaseRetryTimer: NodeJS.Timeout | undefined;
  /** What this process sequenced and has not seen acknowledged, in sequence order: published without a read back. */
  #handedOff: SequencedEvent[] = [];
  /** The highest sequence this process handed out. */
  #sequencedThrough = 0;
  #stopped = true;

  constructor(
    private readonly database: Database,
    private readonly broker: Broker,
    private readonly options: OutboxRelayOptions,
    private readonly logger: RelayLogger,
  ) {
    this.#sequencer = new CoalescingRunner(() => this.#sequenceStep(), {
      intervalMinMs: options.sequenceIntervalMinMs ?? 0,
    });
    this.#watermarkWriter = new CoalescingRunner(() => this.#writeWatermark(), {
      intervalMinMs: options.watermarkIntervalMinMs ?? 0,
    });
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
    this.#watermarkWriter.restart();
    // Commits in this process wake it directly: writes issue no NOTIFY (migration 0008).
    this.#unsubscribeLocal = committedOutbox.subscribe(() => this.wake());
    // Another instance's sequencing run is over (its one NOTIFY): if it kept us out, go now; if we
    // hold the publisher lease, its events are ours to publish.
    this.#unlisten = await this.database.listen(EVENT_LOG_CHANNEL, (payload) => {
      if (this.#sequencingLockedOut) this.wake();
      if (this.#lease !== undefined) void this.#wakePublisherFor(payload);
    });
    this.#sweepTimer = setInterval(() => this.#sweep(), this.options.sweepIntervalMs);
    this.#sweepTimer.unref();
    this.#sweep();
  }

  /**
   * Looks for what no wake announced: rows a crash left unsequenced, events left unpublished by a
   * lease holder that is gone or by a broker outage.
   */
  #sweep(): void {
    this.#sequencer.wake();
    this.#publisher.wake();
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
    clearTimeout(this.#leaseRetryTimer);
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
    await this.#watermarkWriter.stop();
    await this.#writeWatermark();
    // Ending the session hands the lease over: another instance's next attempt takes it.
    this.#lease = undefined;
    await this.#session?.end();
    this.#session = undefined;
  }

  /**
   * Wakes the lease holder's publisher for a head announced by a sequencing run, unless the run was
   * this process's own (its events are handed over already). The announcement can arrive before the
   * run's answer: wait for that first. An empty payload (after the listener reconnected) always wakes.
   */
  async #wakePublisherFor(payload: string): Promise<void> {
    const head = payload === '' ? Number.POSITIVE_INFINITY : Number(payload);
    await this.#sequencer.underWay;
    if (!(head <= Math.max(this.#sequencedThrough, this.#lease?.publishedThrough ?? 0)))
      this.#publisher.wake();
  }

  /**
   * The relay's session, opened again once it has ended (a lease ends with it). One opening at a
   * time: the sequencer and the publisher may ask together, and a second session would find the
   * lease held by the first.
   */
  #openSession(): Promise<DedicatedSession> {
    if (this.#session !== undefined && !this.#session.ended) return Promise.resolve(this.#session);
    this.#opening ??= this.database
      .session('outbox-relay', INDEX_WALKS_ONLY)
      .then((session) => {
        this.#lease = undefined;
        this.#session = session;
        return session;
      })
      .finally(() => {
        this.#opening = undefined;
      });
    return this.#opening;
  }

  async #sequenceStep(): Promise<void> {
    try {
      // A run that found nothing (its rows were taken by the run before) leaves the publisher be.
      if ((await this.#sequenceAll()) > 0) this.#publisher.wake();
    } catch (error) {
      // The database, not the broker: the next commit, NOTIFY or sweep tries again.
      this.logger.warn({ err: error }, 'sequencing the outbox failed; will retry');
    }
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

  /** Sequences until nothing committed is left; answers how many events it sequenced. */
  async #sequenceAll(): Promise<number> {
    this.#sequencingLockedOut = false;
    let total = 0;
    for (;;) {
      // The relay serves every tenant: one of the named cross-tenant jobs (ADR 0017).
      const sequenced = await sequencePending(
        await this.#openSession(),
        this.options.batchSizeMax,
        this.options.exclusivity === 'advisory-lock' ? SEQUENCER_LOCK_KEY : null,
      );
      if (sequenced === undefined) {
        this.#sequencingLockedOut = true;
        this.#sequenceSoon();
        return total;
      }
      if (sequenced.length > 0) {
        total += sequenced.length;
        this.#handOff(sequenced);
        this.options.onSequenced?.(sequenced);
      }
      // A short batch took everything committed: a later commit wakes us again.
      if (sequenced.length < this.options.batchSizeMax) return total;
    }
  }

  /** Publishes until nothing is left; throws on the first publish failure. */
  async #publishAll(): Promise<void> {
    for (;;) {
      const published = await this.#publishBatch();
      if (published === undefined || published < this.options.batchSizeMax) return;
    }
  }

  /**
   * The holder of the sequencer lock may have looked before our rows committed and be done by now:
   * try again shortly rather than trust it to have seen them.
   */
  #sequenceSoon(): void {
    if (this.#stopped) return;
    setTimeout(() => this.#sequencer.wake(), LOCK_BUSY_RETRY_MS).unref();
  }

  /** Sequences and publishes everything now, whatever the backoff (shutdown flush). */
  async #drain(): Promise<void> {
    await this.#sequenceAll();
    await this.#publishAll();
  }

  /**
   * Publishes the oldest unacknowledged events and moves the watermark past them, as the only
   * publisher among the processes sharing the database: the holder of the lease, on the relay's
   * session, in autocommit. The events are those this process sequenced when they follow the
   * watermark without a gap (no read back); otherwise, when another instance sequenced some, they
   * are read. Undefined when another instance holds the lease.
   */
  async #publishBatch(): Promise<number | undefined> {
    const lease = await this.#leased();
    if (lease === undefined) {
      // The holder publishes what we sequenced (it hears every sequencing run). Should it be gone
      // without a word, we take over at the next attempt: one is due shortly.
      if (this.#handedOff.length > 0) this.#retryLeaseSoon();
      this.#handedOff = [];
      return undefined;
    }
    const events =
      this.#handedOffAfter(lease.publishedThrough) ??
      (await unpublished(lease.session, lease.publishedThrough, this.options.batchSizeMax));
    if (events.length === 0) return 0;
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
        lease.session,
        first.sequence,
        error instanceof Error ? error.message : String(error),
      ).catch(() => {});
      throw error;
    }
    lease.publishedThrough = (events.at(-1) as SequencedEvent).sequence;
    this.#watermarkWriter.wake();
    this.options.onPublish?.('acknowledged', events.length);
    return events.length;
  }

  /**
   * Records the lease's watermark. Should it fail, the lease goes with its connection: the next
   * holder starts from the last watermark written and publishes the rest again (at least once, as a
   * publish whose acknowledgement was lost always was).
   */
  async #writeWatermark(): Promise<void> {
    const lease = this.#lease;
    if (lease === undefined || lease.publishedThrough <= lease.writtenThrough) return;
    const through = lease.publishedThrough;
    try {
      await markPublished(lease.session, through);
      lease.writtenThrough = Math.max(lease.writtenThrough, through);
    } catch (error) {
      this.logger.warn(
        { err: error },
        'recording the publish watermark failed; the next holder repeats from the last one',
      );
    }
  }

  /**
   * The publisher lease: kept while the relay's session lasts, taken when free (PostgreSQL), always
   * this process's (PGlite). Its watermark is read once taken; from then on only the holder moves it.
   */
  async #leased(): Promise<PublisherLease | undefined> {
    const session = await this.#openSession();
    if (this.#lease?.session === session) return this.#lease;
    if (this.options.exclusivity === 'advisory-lock') {
      const taken = await session.query<{ acquired: boolean }>(
        'SELECT pg_try_advisory_lock($1) AS acquired',
        [PUBLISHER_LOCK_KEY],
      );
      if (taken.rows[0]?.acquired !== true) return undefined;
      this.logger.info({ broker: this.broker.name }, 'publisher lease taken');
    }
    // Read after the lock is ours, so that no acknowledgement of the previous holder is missed.
    const through = await publishedThrough(session);
    this.#lease = { session, publishedThrough: through, writtenThrough: through };
    return this.#lease;
  }

  #retryLeaseSoon(): void {
    if (this.#stopped || this.#leaseRetryTimer !== undefined) return;
    this.#leaseRetryTimer = setTimeout(() => {
      this.#leaseRetryTimer = undefined;
      this.#publisher.wake();
    }, LEASE_RETRY_MS);
    this.#leaseRetryTimer.unref();
  }

  /** Keeps what was just sequenced for the publisher, unless it is falling far behind. */
  #handOff(sequenced: readonly SequencedEvent[]): void {
    this.#sequencedThrough = Math.max(this.#sequencedThrough, (sequenced.at(-1) as SequencedEvent).sequence);
    if (this.#handedOff.length + sequenced.length > HANDED_OFF_MAX) this.#handedOff = [];
    else this.#handedOff.push(...sequenced);
  }

  /**
   * The handed-off events that follow `publishedThrough` without a gap, up to a batch; undefined
   * when the next one to publish is not among them (another instance sequenced it): read it.
   */
  #handedOffAfter(publishedThrough: number): SequencedEvent[] | undefined {
    const firstUnpublished = this.#handedOff.findIndex((event) => event.sequence > publishedThrough);
    this.#handedOff = firstUnpublished < 0 ? [] : this.#handedOff.slice(firstUnpublished);
    const batch: SequencedEvent[] = [];
    let expected = publishedThrough + 1;
    for (const event of this.#handedOff) {
      if (event.sequence !== expected || batch.length === this.options.batchSizeMax) break;
      batch.push(event);
      expected += 1;
    }
    return batch.length > 0 ? batch : undefined;
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
