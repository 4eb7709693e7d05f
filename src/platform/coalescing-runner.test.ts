import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CoalescingRunner } from './coalescing-runner.js';

/** A runner whose runs finish only when the test says so. */
function controlledRunner(intervalMinMs?: number) {
  const runs: { startedAt: number; finish: () => void }[] = [];
  const work = () =>
    new Promise<void>((resolve) => {
      runs.push({ startedAt: performance.now(), finish: resolve });
    });
  const runner = new CoalescingRunner(work, intervalMinMs === undefined ? {} : { intervalMinMs });
  return { runs, runner };
}

/** A runner paced at 5 ms whose first run has started and finished, `afterMs` ago. */
async function pacedAfterOneRun(afterMs: number) {
  const controlled = controlledRunner(5);
  controlled.runner.wake();
  controlled.runs[0]?.finish();
  await vi.advanceTimersByTimeAsync(afterMs);
  return controlled;
}

describe('CoalescingRunner', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs at once when idle, and once more for any number of wakes during a run', async () => {
    const { runs, runner } = controlledRunner();
    runner.wake();
    expect(runs).toHaveLength(1);
    runner.wake();
    runner.wake();
    runs[0]?.finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toHaveLength(2);
    runs[1]?.finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toHaveLength(2);
  });

  it('starts runs at least the minimum interval apart, one run for every wake in between', async () => {
    const { runs, runner } = await pacedAfterOneRun(1);
    runner.wake();
    await vi.advanceTimersByTimeAsync(1);
    runner.wake();
    await vi.advanceTimersByTimeAsync(2);
    expect(runs).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toHaveLength(2);
    expect((runs[1]?.startedAt ?? 0) - (runs[0]?.startedAt ?? 0)).toBe(5);
    runs[1]?.finish();
    await vi.advanceTimersByTimeAsync(100);
    expect(runs).toHaveLength(2);
  });

  it('runs a wake at once when the last run started longer ago than the interval', async () => {
    const { runs, runner } = await pacedAfterOneRun(6);
    runner.wake();
    expect(runs).toHaveLength(2);
  });

  it('drops a wake waiting for its interval when stopped', async () => {
    const { runs, runner } = await pacedAfterOneRun(1);
    runner.wake();
    await runner.stop();
    await vi.advanceTimersByTimeAsync(10);
    expect(runs).toHaveLength(1);
  });

  it('refuses a negative interval', () => {
    expect(() => new CoalescingRunner(async () => {}, { intervalMinMs: -1 })).toThrow(RangeError);
  });
});
