/**
 * Runs `run` at a chosen time instead of on a fixed interval: the run itself says when it wants to
 * run next (`scheduleIn`), anyone may ask for an earlier run (`wakeIn`), every sleep is bounded by
 * `sleepMaxMs`, runs never overlap, and a wake that comes during a run brings one more run right
 * after it (that run may predate what woke it).
 */
export class WakeTimer {
  #timer: NodeJS.Timeout | undefined;
  #wakeAt = Number.POSITIVE_INFINITY;
  #running: Promise<void> | undefined;
  #wokenWhileRunning = false;
  #stopped = true;

  constructor(
    private readonly run: () => Promise<void>,
    private readonly sleepMaxMs: number,
  ) {}

  get isRunning(): boolean {
    return this.#running !== undefined;
  }

  start(): void {
    this.#stopped = false;
    this.scheduleIn(0);
  }

  /** Runs within `delayMs`, unless a run is already due sooner. */
  wakeIn(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#running !== undefined && delayMs <= 0) {
      this.#wokenWhileRunning = true;
      return;
    }
    if (Date.now() + Math.max(delayMs, 0) < this.#wakeAt) this.scheduleIn(delayMs);
  }

  /** The next run, in `delayMs` (bounded): replaces whatever was set. */
  scheduleIn(delayMs: number): void {
    if (this.#stopped) return;
    const boundedMs = Math.min(Math.max(delayMs, 0), this.sleepMaxMs);
    clearTimeout(this.#timer);
    this.#wakeAt = Date.now() + boundedMs;
    this.#timer = setTimeout(() => this.#fire(), boundedMs);
    this.#timer.unref();
  }

  /** No more runs; resolves when the one under way has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  #fire(): void {
    this.#timer = undefined;
    this.#wakeAt = Number.POSITIVE_INFINITY;
    if (this.#running !== undefined) {
      this.#wokenWhileRunning = true;
      return;
    }
    this.#running = this.run().finally(() => {
      this.#running = undefined;
      if (this.#wokenWhileRunning) {
        this.#wokenWhileRunning = false;
        this.scheduleIn(0);
      }
    });
  }
}
