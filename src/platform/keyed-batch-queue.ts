/** How one item of a batch ended: its own result or its own error. */
export type ItemOutcome<Result> = { ok: true; value: Result } | { ok: false; error: unknown };

/** Runs one batch of a key; answers one outcome per item, in the items' order. */
export type BatchRunner<Item, Result> = (
  key: string,
  items: readonly Item[],
) => Promise<readonly ItemOutcome<Result>[]>;

interface Waiting<Item, Result> {
  item: Item;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

/**
 * Groups work by key without a timer: an item submitted while a batch of its key is running waits
 * for the next batch, which takes everything that waited (up to `batchSizeMax`). An item submitted
 * to an idle key runs at once in a batch of one, so batching adds no latency when there is no
 * concurrency, and batches grow exactly as fast as items pile up behind the one running.
 * One batch of a key runs at a time in this process; other processes batch on their own.
 *
 * A finished batch's items are answered only after the next batch of the key has started: what
 * their callers do with the answers (a reply written per item, say) then runs while that batch's
 * first statements are with the database, instead of ahead of them. On a hot key this takes the
 * writing of one batch's replies off the path of the next.
 */
export class KeyedBatchQueue<Item, Result> {
  /** Per key with a batch running: the items waiting for the next one. */
  readonly #lanes = new Map<string, Waiting<Item, Result>[]>();

  constructor(
    private readonly runBatch: BatchRunner<Item, Result>,
    private readonly batchSizeMax: number,
  ) {
    if (!Number.isInteger(batchSizeMax) || batchSizeMax < 1) {
      throw new RangeError(`batchSizeMax must be a positive integer, got ${batchSizeMax}`);
    }
  }

  submit(key: string, item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      const running = this.#lanes.get(key);
      if (running !== undefined) {
        running.push({ item, resolve, reject });
        return;
      }
      const lane = [{ item, resolve, reject }];
      this.#lanes.set(key, lane);
      void this.#drain(key, lane);
    });
  }

  /** Keys with a batch running (a key leaves once its last batch is done). */
  get busyKeys(): number {
    return this.#lanes.size;
  }

  async #drain(key: string, lane: Waiting<Item, Result>[]): Promise<void> {
    while (lane.length > 0) {
      const batch = lane.splice(0, this.batchSizeMax);
      let outcomes: readonly ItemOutcome<Result>[];
      try {
        outcomes = await this.runBatch(
          key,
          batch.map((waiting) => waiting.item),
        );
        if (outcomes.length !== batch.length) {
          throw new Error(`A batch of ${batch.length} items answered ${outcomes.length} outcomes`);
        }
      } catch (error) {
        outcomes = batch.map(() => ({ ok: false, error }));
      }
      // The next batch starts first: what it sends leaves within this turn of the event loop, and
      // the answers follow at the turn's end.
      setImmediate(answer, batch, outcomes);
    }
    this.#lanes.delete(key);
  }
}

function answer<Item, Result>(
  batch: readonly Waiting<Item, Result>[],
  outcomes: readonly ItemOutcome<Result>[],
): void {
  batch.forEach((waiting, index) => {
    const outcome = outcomes[index] as ItemOutcome<Result>;
    if (outcome.ok) waiting.resolve(outcome.value);
    else waiting.reject(outcome.error);
  });
}
