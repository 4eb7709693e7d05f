import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisCacheStore } from '../../src/platform/cache/redis-cache-store.js';
import type { SendSerializedOnce } from '../../src/platform/http/serialized-once.js';
import { sparePort } from '../brokers/server-process.js';
import {
  createTestDatabase,
  describeOnEachDatabase,
  postgresAvailable,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

/**
 * Answers sent from a held view: the route's held path is the only caller of sendSerializedOnce,
 * so counting its sends (which still send) tells a held answer from one the cache's async read
 * made, which the cache's hit counter does not.
 */
const heldAnswers = vi.hoisted(() => ({ sent: 0 }));
vi.mock('../../src/platform/http/serialized-once.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/platform/http/serialized-once.js')>();
  return {
    ...original,
    sendSerializedOnce: (): SendSerializedOnce => {
      const send = original.sendSerializedOnce();
      return (reply, value) => {
        heldAnswers.sent += 1;
        send(reply, value);
      };
    },
  };
});

const SHARED_REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const silentLogger = { warn: () => {} };

async function redisReachable(url: string): Promise<boolean> {
  const store = new RedisCacheStore(url, silentLogger);
  try {
    if (!(await store.ready(3_000))) return false;
    await store.set('probe', 1, 5);
    return (await store.get('probe')) === 1;
  } finally {
    await store.close();
  }
}

const sharedRedis = await redisReachable(SHARED_REDIS_URL);
if (!sharedRedis && process.env['OMNISTOCK_REQUIRE_SERVICES'] === '1') {
  throw new Error(`Redis is required (OMNISTOCK_REQUIRE_SERVICES=1) but ${SHARED_REDIS_URL} does not answer`);
}
if (!sharedRedis) process.stdout.write(`\nSKIPPED: Redis cache tests — no server at ${SHARED_REDIS_URL}\n`);

async function availability(app: TestApp, productId: string) {
  return (await app.request('GET', `/api/v1/products/${productId}/availability`, { key: null })).body;
}

/**
 * The view as loaded, then read again until a read is answered from the held view (serialized once
 * per view), which must say the same. On PostgreSQL a change's invalidation also arrives through the
 * event log a moment later and may drop a view loaded before it: the next read loads it again.
 */
async function availabilityAsHeld(app: TestApp, productId: string) {
  const url = `/api/v1/products/${productId}/availability`;
  const loaded = await app.request('GET', url, { key: null });
  for (let attempt = 0; attempt < 40; attempt += 1) {
    const heldBefore = heldAnswers.sent;
    const again = await app.request('GET', url, { key: null });
    expect(again.status).toBe(200);
    expect(again.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(again.body).toEqual(loaded.body);
    if (heldAnswers.sent > heldBefore) return again.body;
    await sleep(25);
  }
  throw new Error(`${url} was never answered from a held view`);
}

describeOnEachDatabase('availability cache (in-process LRU)', (harness) => {
  it('serves the cached view and drops it on every change, so a read after a write is fresh', async () => {
    const app = harness();
    const store = await app.createStore();
    const product = await app.createProduct();
    await app.stock(product.id, store, 10);
    expect((await availabilityAsHeld(app, product.id)).total_available).toBe(10);
    await app.request('POST', `/api/v1/stock/${product.id}/${store}/adjust`, {
      body: { quantity_change: -3, reason: 'SALE' },
    });
    expect((await availabilityAsHeld(app, product.id)).total_available).toBe(7);
    await app.request('POST', '/api/v1/reservations', {
      body: { product_id: product.id, store_id: store, quantity: 2, customer_id: 'c' },
    });
    expect((await availabilityAsHeld(app, product.id)).stores[0]).toMatchObject({
      available: 5,
      reserved: 2,
    });
    await app.request('PUT', `/api/v1/products/${product.id}`, {
      body: { sku: product.sku, name: 'Renamed', price_minor: 1, currency: 'EUR' },
      headers: { 'if-match': '"1"' },
    });
    expect((await availabilityAsHeld(app, product.id)).name).toBe('Renamed');
  });
});

describe.skipIf(!sharedRedis)('Redis cache store', () => {
  it('stores, expires and deletes JSON values under a prefix', async () => {
    const store = new RedisCacheStore(SHARED_REDIS_URL, silentLogger);
    expect(await store.ready(3_000)).toBe(true);
    const key = `test:${Date.now()}`;
    await store.set(key, { a: 1 }, 30);
    expect(await store.get(key)).toEqual({ a: 1 });
    await store.delete([key]);
    expect(await store.get(key)).toBeUndefined();
    await store.close();
  });

  it('reads as a miss, quickly, when Redis is unreachable', async () => {
    const store = new RedisCacheStore(`redis://127.0.0.1:${await sparePort()}`, silentLogger);
    const started = Date.now();
    for (let attempt = 0; attempt < 10; attempt += 1) expect(await store.get('anything')).toBeUndefined();
    await store.set('anything', 1, 5);
    expect(Date.now() - started).toBeLessThan(5_000);
    await store.close();
  });
});

describe.skipIf(!sharedRedis || !postgresAvailable())(
  'shared Redis cache, two instances, one PostgreSQL',
  () => {
    let redis: ChildProcess | undefined;
    let redisDir: string | undefined;
    let redisUrl = '';
    const cleanups: Array<() => Promise<unknown>> = [];

    beforeAll(async () => {
      redisDir = await mkdtemp(path.join(tmpdir(), 'omnistock-redis-'));
      const port = await sparePort();
      redis = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          redisDir,
        ],
        {
          stdio: 'ignore',
        },
      );
      redisUrl = `redis://127.0.0.1:${port}`;
      expect(await redisReachable(redisUrl)).toBe(true);
    });

    afterAll(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
      redis?.kill('SIGKILL');
      if (redisDir !== undefined) await rm(redisDir, { recursive: true, force: true });
    });

    it('is fresh on the other instance right after a change, and falls back to the database when Redis dies', async () => {
      const { database, drop } = await createTestDatabase('postgres');
      cleanups.push(drop);
      const { PgDatabase } = await import('../../src/platform/db/pg-database.js');
      const name = (await database.schemaOwner().query<{ name: string }>('SELECT current_database() AS name'))
        .rows[0]?.name as string;
      const { postgresAdminUrl, withDatabaseName } = await import('../support/postgres.js');
      const second = new PgDatabase({
        connectionString: withDatabaseName(postgresAdminUrl(), name),
        poolSizeMax: 5,
        statementTimeoutMs: 10_000,
        connectionTimeoutMs: 5_000,
        applicationName: 'omnistock-test-b',
      });
      cleanups.push(() => second.close());
      const a = await startTestApp('postgres', database, { redisUrl });
      cleanups.push(() => a.app.close());
      const b = await startTestApp('postgres', second, { redisUrl });
      cleanups.push(() => b.app.close());

      const store = await a.createStore();
      const product = await a.createProduct();
      await a.stock(product.id, store, 10);
      expect((await availability(a, product.id)).total_available).toBe(10);
      expect((await availability(b, product.id)).total_available).toBe(10);
      await b.request('POST', `/api/v1/stock/${product.id}/${store}/adjust`, {
        body: { quantity_change: -4, reason: 'SALE' },
      });
      expect((await availability(a, product.id)).total_available).toBe(6);

      redis?.kill('SIGKILL');
      await sleep(100);
      await a.request('POST', `/api/v1/stock/${product.id}/${store}/adjust`, {
        body: { quantity_change: -1, reason: 'SALE' },
      });
      const started = Date.now();
      const afterOutage = await a.request('GET', `/api/v1/products/${product.id}/availability`, {
        key: null,
      });
      expect(afterOutage.status).toBe(200);
      expect(afterOutage.body.total_available).toBe(5);
      expect((await availability(b, product.id)).total_available).toBe(5);
      expect(Date.now() - started).toBeLessThan(5_000);
    });
  },
);
