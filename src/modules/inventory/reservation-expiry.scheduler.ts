import type { Database } from '../../platform/db/database.js';
import { WakeTimer } from '../../platform/wake-timer.js';
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
  readonly #timer = new WakeTimer(() => this.#sweep(), EXPIRY_SLEEP_MAX_MS);

  constructor(
    private readonly database: Database,
    private readonly reservations: ReservationService,
    private readonly logger: ExpiryLogger,
  ) {}

  start(): void {
    this.#timer.start();
  }

  /** A reservation expiring at `expiresAt` was created: wake for it if that is sooner. */
  notify(expiresAt: Date): void {
    this.#timer.wakeIn(expiresAt.getTime() - Date.now());
  }

  async stop(): Promise<void> {
    await this.#timer.stop();
  }

  async #sweep(): Promise<void> {
    try {
      let expiredTotal = 0;
      let drained = false;
      for (let batch = 0; batch < EXPIRY_BATCHES_PER_WAKE_MAX; batch += 1) {
        const expired = await this.reservations.expireDue(EXPIRY_BATCH_SIZE_MAX);
        expiredTotal += expired;
        if (expired < EXPIRY_BATCH_SIZE_MAX) {
          drained = true;
          break;
        }
      }
      if (expiredTotal > 0) this.logger.info({ expired: expiredTotal }, 'reservations expired');
      if (!drained) return this.#timer.scheduleIn(0);
      const next = await nextPendingExpiry(this.database.system('reservation-expiry'));
      if (next === undefined) return this.#timer.scheduleIn(EXPIRY_SLEEP_MAX_MS);
      this.#timer.scheduleIn(
        Math.max(next.getTime() - Date.now(), expiredTotal === 0 ? EXPIRY_SLEEP_MIN_MS : 0),
      );
    } catch (error) {
      this.logger.error({ err: error }, 'reservation expiry sweep failed; retrying');
      this.#timer.scheduleIn(EXPIRY_RETRY_AFTER_ERROR_MS);
    }
  }
}
