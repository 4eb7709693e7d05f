/**
 * The delivery rules, pure: the retry schedule, the per-endpoint circuit breaker and the ordering
 * hold. The worker and the repository apply them; the numbers live here.
 */

const SECOND_MS = 1_000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;

/**
 * Waits after the 1st, 2nd, … failed attempt. After the last one the next failure is final (DEAD):
 * 11 attempts spread over about 47 hours, so a receiver down for a whole day still gets everything.
 */
export const RETRY_SCHEDULE_DEFAULT_MS: readonly number[] = Object.freeze([
  5 * SECOND_MS,
  30 * SECOND_MS,
  2 * MINUTE_MS,
  10 * MINUTE_MS,
  30 * MINUTE_MS,
  1 * HOUR_MS,
  3 * HOUR_MS,
  6 * HOUR_MS,
  12 * HOUR_MS,
  24 * HOUR_MS,
]);
/** The schedule must keep retrying for at least this long (the contract in docs). */
export const RETRY_WINDOW_MIN_MS = 24 * HOUR_MS;
/** Each wait is spread by ±20 % so that deliveries failed together do not retry together. */
export const RETRY_JITTER_RATIO = 0.2;
/** A schedule is bounded: attempts are counted in an integer column and each is a row update. */
export const RETRY_SCHEDULE_LENGTH_MAX = 50;

/** Consecutive failed attempts of an endpoint that open its circuit. */
export const BREAKER_FAILURE_THRESHOLD_DEFAULT = 5;
/** How long an open circuit holds the endpoint's deliveries back before one probe is let through. */
export const BREAKER_OPEN_DEFAULT_MS = 60 * SECOND_MS;

/**
 * A delivery that failed this often (since it was queued, or since its endpoint last recovered from
 * an outage) stops holding back the endpoint's later deliveries: one poisoned event delays the
 * others by about half a minute, not by a day, and during a long outage every delivery still walks
 * its own retry schedule to the end.
 */
export const ORDER_HOLD_STRIKES_MAX = 3;

export type RetryDecision = { kind: 'retry'; delayMs: number } | { kind: 'dead' };

export function retryWindowMs(scheduleMs: readonly number[]): number {
  return scheduleMs.reduce((total, delayMs) => total + delayMs, 0);
}

export function assertValidSchedule(scheduleMs: readonly number[]): void {
  if (scheduleMs.length === 0 || scheduleMs.length > RETRY_SCHEDULE_LENGTH_MAX) {
    throw new Error(`a retry schedule has 1 to ${RETRY_SCHEDULE_LENGTH_MAX} steps`);
  }
  if (!scheduleMs.every((delayMs) => Number.isSafeInteger(delayMs) && delayMs > 0)) {
    throw new Error('retry delays are positive whole milliseconds');
  }
}

/** What follows failed attempt number `attemptsMade` (1 for the first attempt). */
export function afterFailedAttempt(
  attemptsMade: number,
  scheduleMs: readonly number[],
  random: () => number = Math.random,
): RetryDecision {
  const baseMs = scheduleMs[attemptsMade - 1];
  if (baseMs === undefined) return { kind: 'dead' };
  const jitter = 1 + RETRY_JITTER_RATIO * (2 * random() - 1);
  return { kind: 'retry', delayMs: Math.max(1, Math.round(baseMs * jitter)) };
}

export interface BreakerAfterFailure {
  consecutiveFailures: number;
  /** Open (or re-open, after a failed probe) the circuit now. */
  opens: boolean;
}

/** After a real attempt failed: one more failure in a row; at the threshold the circuit opens. */
export function breakerAfterFailure(
  consecutiveFailuresBefore: number,
  threshold: number,
): BreakerAfterFailure {
  const consecutiveFailures = consecutiveFailuresBefore + 1;
  return { consecutiveFailures, opens: consecutiveFailures >= threshold };
}

/**
 * A success after the circuit had opened ends an outage: the endpoint's owed deliveries are due
 * now (not after their backoff) and their failures no longer count against ordering.
 */
export function endsOutage(consecutiveFailuresBefore: number, threshold: number): boolean {
  return consecutiveFailuresBefore >= threshold;
}

// The default schedule honours the contract; checked once at load, like any invariant.
assertValidSchedule(RETRY_SCHEDULE_DEFAULT_MS);
if (retryWindowMs(RETRY_SCHEDULE_DEFAULT_MS) < RETRY_WINDOW_MIN_MS) {
  throw new Error('the default retry schedule must span at least 24 hours');
}
