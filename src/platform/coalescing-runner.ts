export interface CoalescingRunnerOptions {
  /**
   * Runs start at least this far apart: a wake sooner than that after the last run started waits
   * for the rest of the interval, and everything that woke the runner meanwhile shares the one run.
   * 0 (the default): a wake on an idle runner runs at once.
   */
  intervalMinMs?: number;
}

/**
 * Runs `work` when woken: at once if idle, otherwise once more right after the run under way.
 * Runs never overlap and wakes never pile up, however often they come (one per commit, say).
 */
export class CoalescingRunner {
  #running: Promise<void> | undefined;
  #wokenWhileRunning = false;
  #stopped = false;
  readonly #intervalMinMs: number;
  #lastStartedAt = Number.NEGATIVE_INFINITY;
  /** Set while a wake waits for the interval to pass. */
  #pacing: NodeJS.Timeout | undefined;

  constructor(
    private readonly work: () => Promise<void>,
    options: CoalescingRunnerOptions = {},
  ) {
    this.#intervalMinMs = options.intervalMinMs ?? 0;
    if (!(this.#intervalMinMs >= 0)) {
      throw new RangeError(`intervalMinMs must be 0 or more, got ${options.intervalMinMs}`);
    }
  }

  wake(): void {
    if (this.#stopped || this.#pacing !== undefined) return;
    if (this.#running !== undefined) {
      this.#wokenWhileRunning = true;
      return;
    }
    const now = performance.now();
    const waitMs = this.#lastStartedAt + this.#intervalMinMs - now;
    if (waitMs > 0) {
      this.#pacing = setTimeout(() => {
        this.#pacing = undefined;
        this.wake();
      }, waitMs);
      return;
    }
    this.#lastStartedAt = now;
    this.#running = this.work().finally(() => {
      this.#running = undefined;
      if (this.#wokenWhileRunning) {
        this.#wokenWhileRunning = false;
        this.wake();
      }
    });
  }

  /** The run under way, if any: it settles (never rejects) when that run has finished. */
  get underWay(): Promise<void> | undefined {
    return this.#running?.catch(() => {});
  }

  /** No more runs (a wake waiting for its interval is dropped); resolves when the one under way has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#pacing);
    this.#pacing = undefined;
    while (this.#running !== undefined) await this.#running;
  }

  restart(): void {
    this.#stopped = false;
  }
}
