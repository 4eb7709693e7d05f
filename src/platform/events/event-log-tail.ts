import { CoalescingRunner } from '../coalescing-runner.js';
import type { Database } from '../db/database.js';
import { EVENT_LOG_CHANNEL, eventLogHead, readEventLog, type SequencedEvent } from './outbox-store.js';

export type EventLogListener = (events: readonly SequencedEvent[]) => void;

export interface EventLogTailOptions {
  batchSizeMax: number;
  /** Safety sweep for a notification lost while the listening connection was re-established. */
  sweepIntervalMs: number;
  /** This process's sequencing under way, whose events will be offered when it answers. */
  localSequencing?: () => Promise<void> | undefined;
}

export interface TailLogger {
  warn(details: object, message: string): void;
}

/**
 * Follows the event log of every tenant from the moment it starts and hands each new event, in
 * sequence order, to in-process listeners (live streams, cache invalidation). It wakes on the
 * relay's NOTIFY, so an instance sees changes made through any other instance sharing the database,
 * whichever broker is configured. Listeners must not block: they get each batch synchronously.
 */
export class EventLogTail {
  readonly #listeners = new Set<EventLogListener>();
  #position = 0;
  /** The highest log head announced since the last read began; Infinity when unknown. */
  #announcedHead = 0;
  readonly #reader = new CoalescingRunner(() =>
    this.#read().catch((error: unknown) =>
      this.logger.warn({ err: error }, 'reading the event log failed; the sweep retries'),
    ),
  );
  #unlisten: (() => Promise<void>) | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #stopped = true;

  constructor(
    private readonly database: Database,
    private readonly options: EventLogTailOptions,
    private readonly logger: TailLogger,
  ) {}

  /** The last sequence handed to listeners. */
  get position(): number {
    return this.#position;
  }

  async start(): Promise<void> {
    this.#stopped = false;
    this.#position = await eventLogHead(this.database.system('event-log-tail'));
    // The payload is the head the sequencer moved the log to; '' after a reconnect (unknown).
    this.#unlisten = await this.database.listen(EVENT_LOG_CHANNEL, (payload) =>
      this.poke(payload === '' ? Number.POSITIVE_INFINITY : Number(payload)),
    );
    this.#sweepTimer = setInterval(() => this.poke(), this.options.sweepIntervalMs);
    this.#sweepTimer.unref();
  }

  subscribe(listener: EventLogListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get subscriberCount(): number {
    return this.#listeners.size;
  }

  /**
   * Reads what is new now (after a NOTIFY, or when a caller knows the log moved). With `head`, the
   * head a NOTIFY announced, there is nothing to read once the tail stands there.
   */
  poke(head = Number.POSITIVE_INFINITY): void {
    if (this.#stopped) return;
    // NaN (a payload not a number) reads, as an unknown head does.
    this.#announcedHead = Number.isNaN(head) ? Number.POSITIVE_INFINITY : Math.max(this.#announcedHead, head);
    this.#reader.wake();
  }

  /**
   * Committed events this process just sequenced: handed to listeners at once, without reading them
   * back, when they continue the log where this tail stands. Otherwise (another instance sequenced
   * in between) the tail reads the log, which keeps listeners in sequence order without gaps.
   */
  offer(events: readonly SequencedEvent[]): void {
    if (this.#stopped || events.length === 0) return;
    if ((events[0] as SequencedEvent).sequence === this.#position + 1) this.#deliver(events);
    else this.poke();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#sweepTimer);
    await this.#unlisten?.();
    await this.#reader.stop();
    this.#listeners.clear();
  }

  async #read(): Promise<void> {
    const announced = this.#announcedHead;
    this.#announcedHead = 0;
    // Most notifications announce what this process sequenced: its answer brings the events here.
    await this.options.localSequencing?.();
    if (announced <= this.#position) return;
    for (;;) {
      const events = await readEventLog(this.database.system('event-log-tail'), {
        tenantId: null,
        afterSequence: this.#position,
        limit: this.options.batchSizeMax,
      });
      if (events.length === 0) return;
      // Events offered while the read was under way were delivered already.
      const unseen = events.filter((event) => event.sequence > this.#position);
      if (unseen.length > 0) this.#deliver(unseen);
      if (events.length < this.options.batchSizeMax) return;
    }
  }

  #deliver(events: readonly SequencedEvent[]): void {
    this.#position = (events.at(-1) as SequencedEvent).sequence;
    for (const listener of this.#listeners) {
      try {
        listener(events);
      } catch (error) {
        this.logger.warn({ err: error }, 'an event log listener failed');
      }
    }
  }
}
