import { afterEach, describe, expect, it } from 'vitest';
import type {
  Broker,
  BrokerMessage,
  MessageHandler,
  Subscription,
} from '../../src/platform/events/broker.js';
import { MemoryBroker } from '../../src/platform/events/memory-broker.js';
import {
  createTestDatabase,
  type DatabaseKind,
  postgresAvailable,
  startTestApp,
} from '../support/test-app.js';
import { waitUntil } from '../webhooks/webhook-receiver.js';

/** The in-process broker behind a switch: while `down`, every publish fails as a lost connection would. */
class SwitchableBroker implements Broker {
  readonly name = 'memory' as const;
  readonly inner = new MemoryBroker();
  down = false;

  async connect(): Promise<void> {}
  async publish(messages: readonly BrokerMessage[]): Promise<void> {
    if (this.down) throw new Error('connection refused');
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

for (const kind of ['pglite', 'postgres'] as DatabaseKind[]) {
  describe.skipIf(kind === 'postgres' && !postgresAvailable())(`health and readiness [${kind}]`, () => {
    const cleanups: Array<() => Promise<unknown>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    it('reports each dependency; a broker outage shows in /ready without taking the instance out', async () => {
      const { database, drop } = await createTestDatabase(kind);
      cleanups.push(drop);
      const broker = new SwitchableBroker();
      const harness = await startTestApp(
        kind,
        database,
        { brokerRetryDelayMaxMs: 200, brokerBreakerHalfOpenAfterMs: 200 },
        broker,
      );
      cleanups.push(() => harness.app.close());
      const { request } = harness;

      const live = await request('GET', '/health', { key: null });
      expect(live.status).toBe(200);
      expect(live.body).toMatchObject({ status: 'ok', checks: { database: { status: 'up' } } });
      const ready = await request('GET', '/ready', { key: null });
      expect(ready.status).toBe(200);
      expect(ready.body.checks).toEqual({
        database: { status: 'up' },
        migrations: { status: 'up' },
        broker: { status: 'up' },
      });

      broker.down = true;
      const store = await harness.createStore();
      const product = await harness.createProduct();
      await harness.stock(product.id, store, 1);
      let degraded = ready;
      await waitUntil('the broker check reports the outage', async () => {
        degraded = await request('GET', '/ready', { key: null });
        return degraded.body.checks.broker.status === 'down';
      });
      // The API still works while events wait in the outbox: the instance stays in rotation.
      expect(degraded.status).toBe(200);
      expect(degraded.body.status).toBe('ok');
      expect(degraded.body.checks.broker.error).toMatch(/events wait in the outbox/);
      expect(degraded.body.checks.database.status).toBe('up');

      broker.down = false;
      await waitUntil('the broker check recovers', async () => {
        const recovered = await request('GET', '/ready', { key: null });
        return recovered.body.checks.broker.status === 'up';
      });
    });

    it('is not ready once the database is gone, and says which dependency failed', async () => {
      const { database, drop } = await createTestDatabase(kind);
      const harness = await startTestApp(kind, database);
      cleanups.push(() => harness.app.close());
      await drop();
      const ready = await harness.request('GET', '/ready', { key: null });
      expect(ready.status).toBe(503);
      expect(ready.body.status).toBe('unavailable');
      expect(ready.body.checks.database.status).toBe('down');
      expect(ready.body.checks.database.error).toEqual(expect.any(String));
    });
  });
}
