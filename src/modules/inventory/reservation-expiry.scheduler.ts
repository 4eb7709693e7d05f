import type { Database } from '../../platform/db/database.js';
import { nextPendingExpiry } from './reservation.repository.js';
import type { ReservationService } from './reservation.service.js';

/** Reservations expired per transaction; a backlog is worked off in several. */
export const EXPIRY_BATCH_SIZE_MAX = 200;
/** Batches per wake before yielding to the event loop. */
const EXPIRY_BATCHES_PER_WAKE_MAX = 25;
/**
 * The longest sleep. Each instance wakes for the reservations it created; this bound covers those
 * another instance created and could not expire because it stopped.
 */
export const EXPIRY_SLEEP_MAX_MS = 30_000;
/** Floor between wakes when the next expiry is already due but another instance holds it. */
const EXPIRY_SLEEP_MIN_MS = 50;
const EXPIRY_RETRY_AFTER_ERROR_MS = 1_000;

export interface ExpiryLogger {
  info(details: object, message: string): void;
  error(details: object, message: string): void;
}

/**
 * Expires PENDING reservations at their `expires_at` without a polling loop: it sleeps until the
 * earliest known expiry, is woken earlier when a sooner one is created, and sweeps on start for
 * whatever expired while the process was down. Safe with several instances (SKIP LOCKED).
 */
export class ReservationExpiryScheduler {
  #timer: NodeJS.Timeout | undefined;
  #wakeAt = Number.POSITIVE_INFINITY;
  #running: Promise<void> | undefined;
  /** A wake that arrived during a sweep, whose view of the next expiry may predate it. */
  #wokenWhileRunning = false;
  #stopped = true;

  constructor(
    private readonly database: Database,
    private readonly reservations: ReservationService,
    private readonly logger: ExpiryLogger,
  ) {}

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  /** A reservation expiring at `expiresAt` was created: wake for it if that is sooner. */
  notify(expiresAt: Date): void {
    if (this.#stopped) return;
    if (expiresAt.getTime() < this.#wakeAt) this.#schedule(expiresAt.getTime() - Date.now());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    const boundedMs = Math.min(Math.max(delayMs, 0), EXPIRY_SLEEP_MAX_MS);
    clearTimeout(this.#timer);
    this.#wakeAt = Date.now() + boundedMs;
    this.#timer = setTimeout(() => this.#wake(), boundedMs);
    this.#timer.unref();
  }

  #wake(): void {
    this.#timer = undefined;
    this.#wakeAt = Number.POSITIVE_INFINITY;
    if (this.#running !== undefined) {
      this.#wokenWhileRunning = true;
      return;
    }
    this.#running = this.#sweep().finally(() => {
      this.#running = undefined;
      if (this.#wokenWhileRunning) {
        this.#wokenWhileRunning = false;
        this.#schedule(0);
      }
    });
  }

  async #sweep(): Promise<void> {
    try {
      let expiredTotal = 0;
      let drained = false;
      for (let batch = 0; batch < EXPIRY_BATCHES_PER_WAKE_MAX && !this.#stopped; batch += 1) {
        const expired = await this.reservations.expireDue(EXPIRY_BATCH_SIZE_MAX);
        expiredTotal += expired;
        if (expired < EXPIRY_BATCH_SIZE_MAX) {
          drained = true;
          break;
        }
      }
      if (expiredTotal > 0) this.logger.info({ expired: expiredTotal }, 'reservations expired');
      if (!drained) return this.#schedule(0);
      const next = await nextPendingExpiry(this.database);
      if (next === undefined) return this.#schedule(EXPIRY_SLEEP_MAX_MS);
      this.#schedule(Math.max(next.getTime() - Date.now(), expiredTotal === 0 ? EXPIRY_SLEEP_MIN_MS : 0));
    } catch (error) {
      this.logger.error({ err: error }, 'reservation expiry sweep failed; retrying');
      this.#schedule(EXPIRY_RETRY_AFTER_ERROR_MS);
    }
  }
}
