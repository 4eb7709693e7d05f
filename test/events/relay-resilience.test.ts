import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type {
  Broker,
  BrokerMessage,
  MessageHandler,
  Subscription,
} from '../../src/platform/events/broker.js';
import { MemoryBroker } from '../../src/platform/events/memory-broker.js';
import { SseClient } from '../support/sse-client.js';
import {
  createTestDatabase,
  type DatabaseKind,
  postgresAvailable,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

/** The in-process broker behind a switch: while `down`, every publish fails as a lost connection would. */
class SwitchableBroker implements Broker {
  readonly name = 'memory' as const;
  readonly inner = new MemoryBroker();
  down = false;
  failedPublishes = 0;

  async connect(): Promise<void> {}
  async publish(messages: readonly BrokerMessage[]): Promise<void> {
    if (this.down) {
      this.failedPublishes += 1;
      throw new Error('connection refused');
    }
    await this.inner.publish(messages);
  }
  consume(group: string, handler: MessageHandler): Promise<Subscription> {
    return this.inner.consume(group, handler);
  }
  removeGroup(group: string): Promise<void> {
    return this.inner.removeGroup(group);
  }
  async close(): Promise<void> {
    await this.inner.close();
  }
}

/** Every message the broker delivers to a consumer group of its own, in delivery order. */
async function recorded(broker: Broker): Promise<BrokerMessage[]> {
  const received: BrokerMessage[] = [];
  await broker.consume('audit', async (message) => {
    received.push(message);
  });
  return received;
}

async function until(condition: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}

for (const kind of ['pglite', 'postgres'] as DatabaseKind[]) {
  describe.skipIf(kind === 'postgres' && !postgresAvailable())(`outbox relay [${kind}]`, () => {
    const cleanups: Array<() => Promise<unknown>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    it('keeps committing while the broker is down, then publishes everything in order, once', async () => {
      const { database, drop } = await createTestDatabase(kind);
      cleanups.push(drop);
      const broker = new SwitchableBroker();
      const app: TestApp = await startTestApp(
        kind,
        database,
        { brokerRetryDelayMaxMs: 400, brokerBreakerHalfOpenAfterMs: 300 },
        broker,
      );
      cleanups.push(() => app.app.close());
      const received = await recorded(broker);
      const store = await app.createStore();
      const product = await app.createProduct();
      await app.stock(product.id, store, 100);
      await until(() => received.length === 3, 5_000);

      broker.down = true;
      const changes = 40;
      for (let index = 0; index < changes; index += 1) {
        const response = await app.request('POST', `/api/v1/stock/${product.id}/${store}/adjust`, {
          body: { quantity_change: -1, reason: 'SALE' },
        });
        expect(response.status).toBe(200);
      }
      await until(() => broker.failedPublishes >= 2, 5_000);
      const backlog = await app.request('GET', '/api/v1/events/pending');
      expect(backlog.body.pending).toBe(changes);
      expect(received).toHaveLength(3);

      // The relay retries by itself once its backoff (at most 400 ms here) runs out.
      broker.down = false;
      await until(
        async () => (await app.request('GET', '/api/v1/events/pending')).body.pending === 0,
        15_000,
      );
      await until(() => received.length === 3 + changes, 5_000);
      const versions = received
        .slice(3)
        .map((message) => (message.envelope.data as { version: number }).version);
      expect(versions).toEqual(Array.from({ length: changes }, (_, index) => index + 2));
      expect(new Set(received.map((message) => message.envelope.id)).size).toBe(received.length);
      const failures = await database
        .schemaOwner()
        .query<{ attempts: number }>('SELECT max(attempts) AS attempts FROM outbox_events');
      expect(Number(failures.rows[0]?.attempts)).toBeGreaterThan(1);
    });

    it('writes the publish watermark at most once per interval, and the last one when it stops', async () => {
      const { database, drop } = await createTestDatabase(kind);
      cleanups.push(drop);
      // Every write of the watermark, as the database saw it.
      const owner = database.schemaOwner();
      await owner.query('CREATE TABLE watermark_writes (through_sequence bigint NOT NULL)');
      await owner.query(`CREATE FUNCTION record_watermark_write() RETURNS trigger LANGUAGE plpgsql
          SECURITY DEFINER AS $$ BEGIN INSERT INTO watermark_writes VALUES (NEW.through_sequence); RETURN NULL; END $$`);
      await owner.query(`CREATE TRIGGER watermark_written AFTER UPDATE ON event_log_published
          FOR EACH ROW EXECUTE FUNCTION record_watermark_write()`);
      const writes = async () =>
        (await owner.query<{ count: number }>('SELECT count(*)::int AS count FROM watermark_writes')).rows[0]
          ?.count;
      const watermark = async () =>
        (
          await owner.query<{ through: number; head: number }>(
            `SELECT (SELECT through_sequence FROM event_log_published) AS through,
                      (SELECT last_sequence FROM event_log_head) AS head`,
          )
        ).rows.map((row) => ({ through: Number(row.through), head: Number(row.head) }))[0];
      const broker = new SwitchableBroker();
      // A minute between writes: every acknowledgement after the first write falls inside it.
      const app = await startTestApp(kind, database, { outboxWatermarkIntervalMinMs: 60_000 }, broker);
      let stopped = false;
      cleanups.push(() => (stopped ? Promise.resolve() : app.app.close()));
      const received = await recorded(broker);
      const store = await app.createStore();
      const product = await app.createProduct();
      await app.stock(product.id, store, 100);
      await until(() => received.length === 3, 5_000);
      await until(async () => (await writes()) === 1, 5_000);

      for (let index = 0; index < 30; index += 1) {
        const response = await app.request('POST', `/api/v1/stock/${product.id}/${store}/adjust`, {
          body: { quantity_change: -1, reason: 'SALE' },
        });
        expect(response.status).toBe(200);
      }
      // The broker acknowledges a batch once its consumers have handled it: all of them are in.
      await until(() => received.length === 33, 5_000);
      expect(await writes()).toBe(1);
      const acknowledged = await watermark();
      expect(acknowledged?.through).toBeLessThan(acknowledged?.head ?? 0);

      stopped = true;
      await app.app.close();
      expect(await writes()).toBe(2);
      const written = await watermark();
      expect(written?.through).toBe(written?.head);
    });
  });
}

describe.skipIf(!postgresAvailable())('two instances sharing one PostgreSQL', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** Instances a and b of the service on one fresh database (and, when given, one broker). */
  async function twoInstances(broker?: Broker) {
    const { database, drop } = await createTestDatabase('postgres');
    cleanups.push(drop);
    const { PgDatabase } = await import('../../src/platform/db/pg-database.js');
    const { postgresAdminUrl, withDatabaseName } = await import('../support/postgres.js');
    const name = (await database.schemaOwner().query<{ name: string }>('SELECT current_database() AS name'))
      .rows[0]?.name as string;
    const second = new PgDatabase({
      connectionString: withDatabaseName(postgresAdminUrl(), name),
      poolSizeMax: 5,
      statementTimeoutMs: 10_000,
      connectionTimeoutMs: 5_000,
      applicationName: 'omnistock-test-b',
    });
    cleanups.push(() => second.close());
    const a = await startTestApp('postgres', database, {}, broker);
    const b = await startTestApp('postgres', second, {}, broker);
    const closeA = closingOnce(a);
    const closeB = closingOnce(b);
    cleanups.push(closeA, closeB);
    return { database, a, b, close: { 'omnistock-test': closeA, 'omnistock-test-b': closeB } };
  }

  function closingOnce(instance: TestApp): () => Promise<void> {
    let closed: Promise<void> | undefined;
    return () => {
      closed ??= instance.app.close();
      return closed;
    };
  }

  it('publishes through one instance at a time; a lost or closed holder is taken over, nothing lost or reordered', async () => {
    const broker = new MemoryBroker();
    const { database, a, b, close } = await twoInstances(broker);
    const received = await recorded(broker);
    const store = await a.createStore();
    const product = await a.createProduct();
    await a.stock(product.id, store, 1_000);
    const adjustThrough = async (instances: TestApp[], rounds: number) => {
      for (let round = 0; round < rounds; round += 1)
        for (const instance of instances) {
          const response = await instance.request('POST', `/api/v1/stock/${product.id}/${store}/adjust`, {
            body: { quantity_change: -1, reason: 'SALE' },
          });
          expect(response.status).toBe(200);
        }
    };
    // The backend holding the publisher lease (a session-level advisory lock), by instance.
    const leaseHolders = async () =>
      (
        await database.schemaOwner().query<{ pid: number; application_name: string }>(
          `SELECT activity.pid, activity.application_name
             FROM pg_locks AS lock JOIN pg_stat_activity AS activity ON activity.pid = lock.pid
            WHERE lock.locktype = 'advisory' AND lock.granted AND activity.datname = current_database()
              AND lock.classid::bigint * 4294967296 + lock.objid::bigint = 7340213903`,
        )
      ).rows;

    await adjustThrough([a, b], 10);
    // A lease taken over publishes again from the last watermark written: count distinct events.
    const distinct = () => new Set(received.map((message) => message.id)).size;
    await until(() => distinct() === 23, 10_000);
    const [holder, ...others] = await leaseHolders();
    expect(others).toEqual([]);
    expect(holder?.application_name).toMatch(/:outbox-relay$/);

    // Its connection lost, as in a crash: the lock goes with the session; a new holder takes it.
    await database.schemaOwner().query('SELECT pg_terminate_backend($1)', [holder?.pid]);
    await adjustThrough([a, b], 10);
    await until(() => distinct() === 43, 10_000);
    const [successor] = await leaseHolders();
    if (successor === undefined) throw new Error('nobody took the publisher lease over');
    expect(successor.pid).not.toBe(holder?.pid);

    // The holder shuts down: the other instance, the only one left, publishes its changes.
    const instance = successor.application_name.replace(/:outbox-relay$/, '') as keyof typeof close;
    await close[instance]();
    await adjustThrough([instance === 'omnistock-test' ? b : a], 10);
    await until(() => distinct() === 53, 10_000);

    // Nothing lost, nothing out of order: the level's versions in the order they were published.
    const versions = [...new Map(received.map((message) => [message.id, message])).values()]
      .filter((message) => message.envelope.type === 'stock.updated')
      .map((message) => (message.envelope.data as { version: number }).version);
    expect(versions).toEqual(Array.from({ length: 50 }, (_, index) => index + 2));
  });

  it('streams to a client of one instance the changes made through the other', async () => {
    const { a, b } = await twoInstances();
    const url = await b.app.server.listen({ port: 0, host: '127.0.0.1' });
    const stream = await SseClient.connect(`${url}/api/v1/events/stream?type=stock.updated`);
    cleanups.push(() => stream.close());
    await sleep(50);

    const store = await a.createStore();
    const product = await a.createProduct();
    await a.stock(product.id, store, 10);
    const started = Date.now();
    await a.request('POST', `/api/v1/stock/${product.id}/${store}/adjust`, {
      body: { quantity_change: -2, reason: 'SALE' },
    });
    const events = await stream.waitFor((received) => received.length >= 1, 5_000);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(events[0]?.data).toMatchObject({
      type: 'stock.updated',
      data: { new_quantity: 8, reason: 'SALE' },
    });
  });
});
