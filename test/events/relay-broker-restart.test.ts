import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Broker, BrokerMessage } from '../../src/platform/events/broker.js';
import { createBroker } from '../../src/platform/events/create-broker.js';
import { binaryAvailable } from '../brokers/broker-support.js';
import { ServerProcess, sparePort } from '../brokers/server-process.js';
import { NATS_SERVER, natsServer, type OwnBrokerServer } from '../support/broker-servers.js';
import { createTestDatabase, postgresAvailable, startTestApp } from '../support/test-app.js';

const CHANGES = 120;
const KILL_AT = 40;
const RESTART_AT = 80;
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

const BROKERS: Record<string, { binary: string; start: (workDir: string) => Promise<OwnBrokerServer> }> = {
  nats: {
    binary: NATS_SERVER,
    start: (workDir) => natsServer(workDir),
  },
  redis: {
    binary: '/usr/bin/redis-server',
    async start(workDir) {
      const port = await sparePort();
      const args = [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        workDir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
      ];
      const server = new ServerProcess(
        'redis-server',
        port,
        '/usr/bin/redis-server',
        args,
        path.join(workDir, 'server.log'),
      );
      return { url: `redis://127.0.0.1:${port}`, server };
    },
  },
};

/**
 * The whole path under a broker crash: changes committed through the HTTP API while the broker is
 * killed (SIGKILL) and started again; afterwards a subscriber has every event exactly once after
 * de-duplication by event id, in order.
 */
describe.each(Object.entries(BROKERS))('service across a %s restart', (name, broker) => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  });

  it.skipIf(!binaryAvailable(name, broker.binary))(
    'delivers every committed change exactly once after de-duplication',
    async () => {
      const workDir = await mkdtemp(path.join(tmpdir(), `omnistock-${name}-`));
      cleanups.push(() => rm(workDir, { recursive: true, force: true }));
      const { url, server } = await broker.start(workDir);
      await server.start(20_000);
      cleanups.push(() => server.stop('SIGKILL'));

      const kind = postgresAvailable() ? 'postgres' : 'pglite';
      const { database, drop } = await createTestDatabase(kind);
      cleanups.push(drop);
      const subscriber: Broker = createBroker(url, {
        connectTimeoutMs: 5_000,
        publishTimeoutMs: 2_000,
        logger: quiet,
      });
      await subscriber.connect();
      cleanups.push(() => subscriber.close());
      const received: BrokerMessage[] = [];
      const subscription = await subscriber.consume('restart-check', async (message) => {
        received.push(message);
      });
      cleanups.push(() => subscription.close());
      const app = await startTestApp(kind, database, {
        brokerUrl: url,
        brokerPublishTimeoutMs: 2_000,
        brokerRetryDelayMaxMs: 500,
        brokerBreakerHalfOpenAfterMs: 500,
      });
      cleanups.push(() => app.app.close());

      const store = await app.createStore();
      const product = await app.createProduct();
      await app.stock(product.id, store, 1_000);
      for (let index = 0; index < CHANGES; index += 1) {
        if (index === KILL_AT) await server.stop('SIGKILL');
        if (index === RESTART_AT) await server.start(20_000);
        const response = await app.request('POST', `/api/v1/stock/${product.id}/${store}/adjust`, {
          body: { quantity_change: -1, reason: 'SALE' },
        });
        expect(response.status).toBe(200);
      }

      const deadline = Date.now() + 60_000;
      const levelEvents = () => {
        const firstSeen = new Map<string, BrokerMessage>();
        for (const message of received) {
          if (message.envelope.type === 'stock.updated' && !firstSeen.has(message.envelope.id))
            firstSeen.set(message.envelope.id, message);
        }
        return [...firstSeen.values()];
      };
      while (levelEvents().length < CHANGES && Date.now() < deadline) await sleep(100);
      const events = levelEvents();
      expect(events).toHaveLength(CHANGES);
      // Order per aggregate: the first delivery of each event comes in version order.
      expect(events.map((message) => (message.envelope.data as { version: number }).version)).toEqual(
        Array.from({ length: CHANGES }, (_, index) => index + 2),
      );
      const pending = await app.request('GET', '/api/v1/events/pending');
      expect(pending.body.pending).toBe(0);
    },
  );
});
