import { Session } from 'node:inspector/promises';

/** A CPU profile is at most this long: the profiler slows the process while it runs. */
export const CPU_PROFILE_SECONDS_MAX = 60;
export const CPU_PROFILE_SECONDS_DEFAULT = 10;
/** Microseconds between CPU samples (V8's default is 1000). */
const CPU_SAMPLING_INTERVAL_US = 1_000;

export class ProfilerBusyError extends Error {
  override name = 'ProfilerBusyError';
}

/**
 * On-demand profiles of this process through the inspector protocol (no flag, no restart, no
 * open debugger port): a CPU profile over N seconds (`.cpuprofile`, for Chrome DevTools or
 * speedscope) or a heap snapshot (`.heapsnapshot`). One at a time: a second request while one
 * runs is refused rather than queued. A heap snapshot pauses the process while it is written and
 * holds every tenant's data: see docs/operations.md before taking one in production.
 */
export class Profiler {
  #busy = false;

  get busy(): boolean {
    return this.#busy;
  }

  async cpuProfile(seconds: number, abort?: AbortSignal): Promise<string> {
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > CPU_PROFILE_SECONDS_MAX) {
      throw new RangeError(`a CPU profile lasts 1 to ${CPU_PROFILE_SECONDS_MAX} seconds`);
    }
    return this.#exclusively(async (session) => {
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: CPU_SAMPLING_INTERVAL_US });
      await session.post('Profiler.start');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, seconds * 1000);
        abort?.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      const { profile } = await session.post('Profiler.stop');
      await session.post('Profiler.disable');
      return JSON.stringify(profile);
    });
  }

  async heapSnapshot(): Promise<string> {
    return this.#exclusively(async (session) => {
      const chunks: string[] = [];
      session.on('HeapProfiler.addHeapSnapshotChunk', (message) => chunks.push(message.params.chunk));
      await session.post('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
      return chunks.join('');
    });
  }

  async #exclusively<T>(work: (session: Session) => Promise<T>): Promise<T> {
    if (this.#busy) throw new ProfilerBusyError('a profile is already being taken');
    this.#busy = true;
    const session = new Session();
    session.connect();
    try {
      return await work(session);
    } finally {
      session.disconnect();
      this.#busy = false;
    }
  }
}
