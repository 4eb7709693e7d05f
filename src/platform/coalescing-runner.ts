/**
 * Runs `work` when woken: at once if idle, otherwise once more right after the run under way.
 * Runs never overlap and wakes never pile up, however often they come (one per commit, say).
 */
export class CoalescingRunner {
  #running: Promise<void> | undefined;
  #wokenWhileRunning = false;
  #stopped = false;

  constructor(private readonly work: () => Promise<void>) {}

  wake(): void {
    if (this.#stopped) return;
    if (this.#running !== undefined) {
      this.#wokenWhileRunning = true;
      return;
    }
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

  /** No more runs; resolves when the one under way (if any) has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    while (this.#running !== undefined) await this.#running;
  }

  restart(): void {
    this.#stopped = false;
  }
}
