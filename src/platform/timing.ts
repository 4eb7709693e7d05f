import { setTimeout as delay } from 'node:timers/promises';

/** Rejects with `<what> timed out after <n> ms` unless `promise` settles first; the timer never lingers. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms`, or at once when `signal` aborts (a closing subscription need not wait). */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => {});
}

/**
 * Exponential backoff with "equal jitter": the ceiling doubles per attempt up to `maxMs`, and the
 * delay is drawn from its upper half, so retries of many clients spread out but never get too short.
 */
export function jitteredBackoffMs(attempts: number, minMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempts, 16));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** Operations under way, so that a `close()` can let them settle first (they may still fail). */
export class InFlight {
  readonly #pending = new Set<Promise<unknown>>();

  /** Tracks `operation` until it settles and returns it unchanged. */
  track<T>(operation: Promise<T>): Promise<T> {
    const settled = operation.then(
      () => undefined,
      () => undefined,
    );
    this.#pending.add(settled);
    void settled.then(() => this.#pending.delete(settled));
    return operation;
  }

  async settled(): Promise<void> {
    await Promise.all(this.#pending);
  }
}
