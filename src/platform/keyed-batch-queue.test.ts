import { describe, expect, it } from 'vitest';
import { type ItemOutcome, KeyedBatchQueue } from './keyed-batch-queue.js';

/** A batch runner whose batches finish only when the test says so. */
function controlledRunner() {
  const batches: { key: string; items: number[]; finish: (outcomes?: ItemOutcome<string>[]) => void }[] = [];
  const run = (key: string, items: readonly number[]) =>
    new Promise<readonly ItemOutcome<string>[]>((resolve) => {
      batches.push({
        key,
        items: [...items],
        finish: (outcomes) =>
          resolve(outcomes ?? items.map((item) => ({ ok: true as const, value: `${key}:${item}` }))),
      });
    });
  return { batches, run };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('KeyedBatchQueue', () => {
  it('runs an item on an idle key at once, alone', async () => {
    const { batches, run } = controlledRunner();
    const queue = new KeyedBatchQueue(run, 10);
    const answer = queue.submit('a', 1);
    await settle();
    expect(batches.map((batch) => batch.items)).toEqual([[1]]);
    batches[0]?.finish();
    await expect(answer).resolves.toBe('a:1');
    expect(queue.busyKeys).toBe(0);
  });

  it('batches what arrives while a batch of the key runs, and keeps keys apart', async () => {
    const { batches, run } = controlledRunner();
    const queue = new KeyedBatchQueue(run, 10);
    const answers = [queue.submit('a', 1), queue.submit('a', 2), queue.submit('b', 3), queue.submit('a', 4)];
    await settle();
    expect(batches.map((batch) => [batch.key, batch.items])).toEqual([
      ['a', [1]],
      ['b', [3]],
    ]);
    batches[0]?.finish();
    await settle();
    expect(batches[2]).toMatchObject({ key: 'a', items: [2, 4] });
    batches[1]?.finish();
    batches[2]?.finish();
    await expect(Promise.all(answers)).resolves.toEqual(['a:1', 'a:2', 'b:3', 'a:4']);
  });

  it("lets a key's next batch send its work before it answers the batch that finished", async () => {
    const { batches, run } = controlledRunner();
    const order: string[] = [];
    // Like a database client: a batch's statements leave on the next tick, not in the call.
    const sendingRun = (key: string, items: readonly number[]) => {
      process.nextTick(() => order.push(`sent ${items.join()}`));
      return run(key, items);
    };
    const queue = new KeyedBatchQueue(sendingRun, 10);
    const first = queue.submit('k', 1);
    const second = queue.submit('k', 2);
    await settle();
    const answered = first.then(() => order.push('answered 1'));
    batches[0]?.finish();
    await answered;
    expect(order).toEqual(['sent 1', 'sent 2', 'answered 1']);
    batches[1]?.finish();
    await expect(second).resolves.toBe('k:2');
  });

  it('caps a batch at its size and takes the rest in the next one, in arrival order', async () => {
    const { batches, run } = controlledRunner();
    const queue = new KeyedBatchQueue(run, 2);
    const answers = [1, 2, 3, 4, 5, 6].map((item) => queue.submit('k', item));
    await settle();
    for (let index = 0; index < 4; index += 1) {
      batches[index]?.finish();
      await settle();
    }
    expect(batches.map((batch) => batch.items)).toEqual([[1], [2, 3], [4, 5], [6]]);
    await expect(Promise.all(answers)).resolves.toHaveLength(6);
  });

  it("answers each item with its own outcome, and a failed batch with the batch's error", async () => {
    const { batches, run } = controlledRunner();
    const queue = new KeyedBatchQueue(run, 10);
    const first = queue.submit('k', 1);
    const second = queue.submit('k', 2);
    const third = queue.submit('k', 3);
    await settle();
    batches[0]?.finish();
    await settle();
    const refused = new Error('refused');
    batches[1]?.finish([
      { ok: false, error: refused },
      { ok: true, value: 'three' },
    ]);
    await expect(first).resolves.toBe('k:1');
    await expect(second).rejects.toBe(refused);
    await expect(third).resolves.toBe('three');

    const failing = new KeyedBatchQueue<number, string>(async () => {
      throw new Error('database gone');
    }, 10);
    await expect(failing.submit('k', 1)).rejects.toThrow('database gone');
    expect(failing.busyKeys).toBe(0);
  });

  it('refuses a runner that answers the wrong number of outcomes, failing the whole batch', async () => {
    const queue = new KeyedBatchQueue<number, string>(async () => [], 10);
    await expect(queue.submit('k', 1)).rejects.toThrow('A batch of 1 items answered 0 outcomes');
    expect(() => new KeyedBatchQueue(async () => [], 0)).toThrow(RangeError);
  });
});
