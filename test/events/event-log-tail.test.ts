import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/platform/db/database.js';
import { EventLogTail } from '../../src/platform/events/event-log-tail.js';
import { type SequencedEvent, sequencePending } from '../../src/platform/events/outbox-store.js';
import { commitStockEvents } from '../support/outbox-events.js';
import { createTestDatabase, type DatabaseKind, postgresAvailable } from '../support/test-app.js';

const quiet = { warn: () => {} };
const TENANT = 'tail-test';
/** Small, so that a read back spans several pages. */
const TAIL_BATCH_SIZE_MAX = 3;

/** Sequences what committed, as the relay of some instance would. */
async function sequence(database: Database): Promise<SequencedEvent[]> {
  return (await sequencePending(database.system('outbox-relay'), 100, null)) ?? [];
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

for (const kind of ['pglite', 'postgres'] as DatabaseKind[]) {
  describe.skipIf(kind === 'postgres' && !postgresAvailable())(`event log tail [${kind}]`, () => {
    let database: Database;
    let drop: () => Promise<void>;
    let tail: EventLogTail;
    const received: number[] = [];
    /** This process's sequencing under way, as the relay tells its tail (set by the tests that model it). */
    let localSequencing: Promise<void> | undefined;

    beforeAll(async () => {
      ({ database, drop } = await createTestDatabase(kind));
      // No sweep during the test: every delivery comes from an offer, a NOTIFY or an explicit poke.
      tail = new EventLogTail(
        database,
        {
          batchSizeMax: TAIL_BATCH_SIZE_MAX,
          sweepIntervalMs: 600_000,
          localSequencing: () => localSequencing,
        },
        quiet,
      );
      await tail.start();
      tail.subscribe((events) => received.push(...events.map((event) => event.sequence)));
    });
    afterAll(async () => {
      await tail.stop();
      await drop();
    });

    it('hands events this process sequenced to listeners at once, without reading them back', async () => {
      await commitStockEvents(database, 4, TENANT);
      let sequenced: SequencedEvent[] = [];
      let receivedAtOffer: number[] = [];
      // As the relay does: its tail knows the sequencing is under way, so the statement's NOTIFY,
      // which may arrive before its answer, starts no read of the events the answer brings.
      localSequencing = sequence(database).then((events) => {
        sequenced = events;
        tail.offer(events);
        // Synchronously: no query stood between the offer and the listeners.
        receivedAtOffer = [...received];
      });
      await localSequencing;
      localSequencing = undefined;
      expect(sequenced.map((event) => event.sequence)).toEqual([1, 2, 3, 4]);
      expect(receivedAtOffer).toEqual([1, 2, 3, 4]);
      expect(tail.position).toBe(4);
    });

    it('reads the log back when another instance sequenced in between, in order and without gaps', async () => {
      await commitStockEvents(database, 5, TENANT);
      await sequence(database); // another instance: 5–9, offered to nobody here
      await commitStockEvents(database, 2, TENANT);
      const ours = await sequence(database); // 10–11
      tail.offer(ours);
      await until(() => received.length === 11);
      expect(received).toEqual(Array.from({ length: 11 }, (_, index) => index + 1));
    });

    it('delivers each event once when an offer and a read race', async () => {
      await commitStockEvents(database, 7, TENANT);
      const sequenced = await sequence(database); // 12–18
      tail.poke(); // a read starts (as after a NOTIFY) …
      tail.offer(sequenced); // … and the same events are offered while it is under way
      tail.offer(sequenced); // a repeated offer changes nothing either
      await sleep(200);
      await until(() => received.length >= 18);
      expect(received).toEqual(Array.from({ length: 18 }, (_, index) => index + 1));
    });

    it('does not read back what a NOTIFY announces of its own sequencing, but does for another instance', async () => {
      let reads = 0;
      const countingLogReads = new Proxy(database, {
        get(target, property) {
          if (property !== 'system') {
            const value = Reflect.get(target, property);
            return typeof value === 'function' ? value.bind(target) : value;
          }
          return (job: Parameters<Database['system']>[0]) => {
            const view = target.system(job);
            return {
              ...view,
              query: (sql: string, params?: readonly unknown[]) => {
                reads += 1;
                return view.query(sql, params);
              },
            };
          };
        },
      }) as Database;
      let underWay: Promise<void> | undefined;
      const own = new EventLogTail(
        countingLogReads,
        { batchSizeMax: 100, sweepIntervalMs: 600_000, localSequencing: () => underWay },
        quiet,
      );
      await own.start();
      const seen: number[] = [];
      own.subscribe((events) => seen.push(...events.map((event) => event.sequence)));
      try {
        const readsAtStart = reads;
        const head = own.position;
        await commitStockEvents(database, 3, TENANT);
        // As the relay does: the events are offered when the statement answers.
        underWay = sequence(database).then((events) => own.offer(events));
        await underWay;
        await sleep(300); // the NOTIFY of that statement has arrived
        expect(seen).toEqual([head + 1, head + 2, head + 3]);
        expect(reads).toBe(readsAtStart);

        underWay = undefined;
        await commitStockEvents(database, 2, TENANT);
        await sequence(database); // another instance's
        await until(() => seen.length === 5);
        expect(seen.slice(3)).toEqual([head + 4, head + 5]);
        expect(reads).toBeGreaterThan(readsAtStart);
      } finally {
        await own.stop();
      }
    });
  });
}
