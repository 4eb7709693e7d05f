import { describe, expect, it } from 'vitest';
import {
  afterFailedAttempt,
  assertValidSchedule,
  BREAKER_FAILURE_THRESHOLD_DEFAULT,
  breakerAfterFailure,
  endsOutage,
  RETRY_JITTER_RATIO,
  RETRY_SCHEDULE_DEFAULT_MS,
  RETRY_WINDOW_MIN_MS,
  retryWindowMs,
} from './delivery-policy.domain.js';

describe('retry schedule', () => {
  it('keeps retrying for at least 24 hours, with growing waits', () => {
    expect(retryWindowMs(RETRY_SCHEDULE_DEFAULT_MS)).toBeGreaterThanOrEqual(RETRY_WINDOW_MIN_MS);
    for (let index = 1; index < RETRY_SCHEDULE_DEFAULT_MS.length; index += 1) {
      expect(RETRY_SCHEDULE_DEFAULT_MS[index]).toBeGreaterThan(
        RETRY_SCHEDULE_DEFAULT_MS[index - 1] as number,
      );
    }
    expect(RETRY_SCHEDULE_DEFAULT_MS[0]).toBe(5_000);
  });

  it('waits the step of the attempt that failed, spread by the jitter', () => {
    const schedule = [1_000, 10_000];
    expect(afterFailedAttempt(1, schedule, () => 0.5)).toEqual({ kind: 'retry', delayMs: 1_000 });
    expect(afterFailedAttempt(2, schedule, () => 0.5)).toEqual({ kind: 'retry', delayMs: 10_000 });
    expect(afterFailedAttempt(1, schedule, () => 0)).toEqual({
      kind: 'retry',
      delayMs: 1_000 * (1 - RETRY_JITTER_RATIO),
    });
    const highest = afterFailedAttempt(1, schedule, () => 0.999_999);
    expect(highest.kind === 'retry' && highest.delayMs).toBeLessThanOrEqual(1_000 * (1 + RETRY_JITTER_RATIO));
  });

  it('is dead once the schedule is exhausted', () => {
    expect(afterFailedAttempt(3, [1_000, 10_000])).toEqual({ kind: 'dead' });
    expect(afterFailedAttempt(RETRY_SCHEDULE_DEFAULT_MS.length + 1, RETRY_SCHEDULE_DEFAULT_MS)).toEqual({
      kind: 'dead',
    });
    expect(afterFailedAttempt(RETRY_SCHEDULE_DEFAULT_MS.length, RETRY_SCHEDULE_DEFAULT_MS).kind).toBe(
      'retry',
    );
  });

  it('refuses empty, unbounded or non-positive schedules', () => {
    expect(() => assertValidSchedule([])).toThrow();
    expect(() => assertValidSchedule([0])).toThrow();
    expect(() => assertValidSchedule([1.5])).toThrow();
    expect(() => assertValidSchedule(Array.from({ length: 51 }, () => 1))).toThrow();
    expect(() => assertValidSchedule([1, 2, 3])).not.toThrow();
  });
});

describe('circuit breaker per endpoint', () => {
  it('opens at the threshold of failures in a row, and again after each failed probe', () => {
    const threshold = BREAKER_FAILURE_THRESHOLD_DEFAULT;
    expect(breakerAfterFailure(0, threshold)).toEqual({ consecutiveFailures: 1, opens: false });
    expect(breakerAfterFailure(threshold - 2, threshold).opens).toBe(false);
    expect(breakerAfterFailure(threshold - 1, threshold)).toEqual({
      consecutiveFailures: threshold,
      opens: true,
    });
    expect(breakerAfterFailure(threshold + 3, threshold).opens).toBe(true);
  });

  it('calls a success an end of outage only after the circuit had opened', () => {
    expect(endsOutage(0, 5)).toBe(false);
    expect(endsOutage(4, 5)).toBe(false);
    expect(endsOutage(5, 5)).toBe(true);
  });
});
