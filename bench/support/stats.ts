import { withTimeout } from '../../src/platform/timing.js';

/** Latency summary of a sample, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
}

export function summarise(samplesMs: readonly number[]): LatencySummary {
  const sorted = [...samplesMs].sort((left, right) => left - right);
  const at = (quantile: number) => {
    if (sorted.length === 0) return Number.NaN;
    return round(sorted[Math.min(sorted.length - 1, Math.floor(quantile * sorted.length))] as number);
  };
  return {
    count: sorted.length,
    p50_ms: at(0.5),
    p95_ms: at(0.95),
    p99_ms: at(0.99),
    max_ms: round(sorted.at(-1) ?? Number.NaN),
  };
}

export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/**
 * Calls `tick` at `perSecond` for `durationMs`, without drifting, with the moment each call was
 * due (`performance.now()` time); resolves when every call settled, or `settleWithinMs` after the
 * last call, whichever is first (the caller deals with what is still under way).
 */
export async function atRate(
  perSecond: number,
  durationMs: number,
  tick: (index: number, dueAt: number) => Promise<void>,
  settleWithinMs = Number.POSITIVE_INFINITY,
): Promise<void> {
  const intervalMs = 1000 / perSecond;
  const total = Math.floor((durationMs / 1000) * perSecond);
  const started = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let index = 0; index < total; index += 1) {
    const due = started + index * intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    inFlight.push(tick(index, due));
  }
  const settled = Promise.allSettled(inFlight);
  // Past the bound, what is still under way is the caller's to give up.
  if (Number.isFinite(settleWithinMs)) await withTimeout(settled, settleWithinMs, 'settling').catch(() => {});
  else await settled;
}

export async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}
