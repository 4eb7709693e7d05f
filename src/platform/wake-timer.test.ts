import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { WakeTimer } from './wake-timer.js';

describe('wake timer', () => {
  it('runs at start, then when the run asks, never overlapping, and once more after a wake during a run', async () => {
    let runs = 0;
    let concurrent = 0;
    let maxConcurrent = 0;
    const timer: WakeTimer = new WakeTimer(async () => {
      runs += 1;
      concurrent += 1;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await sleep(30);
      concurrent -= 1;
      timer.scheduleIn(60_000);
    }, 60_000);
    timer.start();
    await sleep(10);
    expect(timer.isRunning).toBe(true);
    timer.wakeIn(0);
    timer.wakeIn(0);
    await sleep(120);
    expect(runs).toBe(2);
    expect(maxConcurrent).toBe(1);
    await timer.stop();
  });

  it('keeps the earlier of two wakes, and bounds every sleep', async () => {
    let runs = 0;
    const timer = new WakeTimer(async () => {
      runs += 1;
    }, 50);
    timer.start();
    await sleep(20);
    expect(runs).toBe(1);
    timer.wakeIn(10_000);
    await sleep(120);
    expect(runs).toBe(2);
    timer.wakeIn(10);
    timer.wakeIn(5_000);
    await sleep(40);
    expect(runs).toBe(3);
    await timer.stop();
    const after = runs;
    timer.wakeIn(0);
    await sleep(30);
    expect(runs).toBe(after);
  });
});
