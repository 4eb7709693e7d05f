import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { SqlState, sqlStateOf } from '../../src/platform/db/database.js';
import { PgDatabase } from '../../src/platform/db/pg-database.js';
import { sparePort } from '../brokers/server-process.js';
import { postgresAdminUrl } from '../support/postgres.js';
import {
  createTestDatabase,
  describeOnEachDatabase,
  OTHER_TENANT_KEY,
  postgresAvailable,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

/** OWASP API4:2023 Unrestricted Resource Consumption: every request is bounded in rate and size. */

const apps: Array<{ harness: TestApp; drop: () => Promise<void> }> = [];

async function appWith(overrides: Partial<Config>): Promise<TestApp> {
  const { database, drop } = await createTestDatabase('pglite');
  const harness = await startTestApp('pglite', database, overrides);
  apps.push({ harness, drop });
  return harness;
}

afterEach(async () => {
  for (const { harness, drop } of apps.splice(0)) {
    await harness.app.close();
    await drop();
  }
});

/** A client address of its own per test: buckets in a shared Redis outlive a test run. */
function freshAddress(): string {
  const bytes = randomBytes(3);
  return `198.51.${bytes[0]}.${bytes[1]}`;
}

function anonymousFrom(harness: TestApp, address: string, url = '/api/v1/products') {
  return harness.request('GET', url, { key: null, headers: { 'x-forwarded-for': address } });
}

describe('API4 rate limiting (in memory)', () => {
  it('API4: refuses an address past its per-minute limit with 429 problem, Retry-After and RateLimit headers', async () => {
    const harness = await appWith({ rateLimitPerIpPerMin: 3, trustProxyHops: 1 });
    const address = freshAddress();
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const response = await anonymousFrom(harness, address);
      statuses.push(response.status);
      expect(response.headers['ratelimit-limit']).toBe('3');
      expect(response.headers['ratelimit-remaining']).toBe(String(2 - i));
    }
    expect(statuses).toEqual([200, 200, 200]);
    const refused = await anonymousFrom(harness, address);
    expect(refused.status).toBe(429);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    expect(refused.body).toMatchObject({ status: 429, code: 'RATE_LIMITED', limit_scope: 'ip' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.headers['ratelimit-remaining']).toBe('0');
    expect(Number(refused.headers['ratelimit-reset'])).toBeGreaterThan(0);
    // Another address has its own bucket.
    expect((await anonymousFrom(harness, freshAddress())).status).toBe(200);
  });

  it('API4: never throttles /health, /ready and /metrics', async () => {
    const harness = await appWith({ rateLimitPerIpPerMin: 1, trustProxyHops: 1 });
    const address = freshAddress();
    await anonymousFrom(harness, address);
    expect((await anonymousFrom(harness, address)).status).toBe(429);
    for (const url of ['/health', '/ready', '/metrics', '/health', '/ready', '/metrics']) {
      expect((await anonymousFrom(harness, address, url)).status, url).toBe(200);
    }
  });

  it('API4: limits each API key, and its tenant as a whole, separately from the other tenants', async () => {
    const harness = await appWith({ rateLimitPerKeyPerMin: 2, rateLimitPerTenantPerMin: 100 });
    expect((await harness.request('GET', '/api/v1/products')).status).toBe(200);
    expect((await harness.request('GET', '/api/v1/products')).status).toBe(200);
    const refused = await harness.request('GET', '/api/v1/products');
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: 'RATE_LIMITED', limit_scope: 'principal' });
    expect(refused.headers['cache-control']).toBe('no-store');
    expect((await harness.request('GET', '/api/v1/products', { key: OTHER_TENANT_KEY })).status).toBe(200);

    const perTenant = await appWith({ rateLimitPerKeyPerMin: 100, rateLimitPerTenantPerMin: 2 });
    await perTenant.request('GET', '/api/v1/products');
    await perTenant.request('GET', '/api/v1/products');
    const tenantRefused = await perTenant.request('GET', '/api/v1/products');
    expect(tenantRefused.body).toMatchObject({ code: 'RATE_LIMITED', limit_scope: 'tenant' });
  });

  it('API4: charges an address for refused credentials, so key guessing is stopped before any lookup', async () => {
    const harness = await appWith({ rateLimitPerIpPerMin: 2, trustProxyHops: 1 });
    const address = freshAddress();
    const guess = () =>
      harness.request('GET', '/api/v1/products', {
        key: `guess-${randomBytes(12).toString('hex')}`,
        headers: { 'x-forwarded-for': address },
      });
    expect((await guess()).status).toBe(401);
    expect((await guess()).status).toBe(401);
    expect((await guess()).status).toBe(429);
    // A valid key from elsewhere is unaffected; authenticated requests do not drain an address.
    const other = freshAddress();
    for (let i = 0; i < 4; i += 1) {
      const response = await harness.request('GET', '/api/v1/products', {
        headers: { 'x-forwarded-for': other },
      });
      expect(response.status).toBe(200);
    }
  });

  it('API4: a limit of 0 turns that limit off', async () => {
    const harness = await appWith({ rateLimitPerIpPerMin: 0, rateLimitPerKeyPerMin: 0, trustProxyHops: 1 });
    const address = freshAddress();
    for (let i = 0; i < 30; i += 1) expect((await anonymousFrom(harness, address)).status).toBe(200);
    expect((await anonymousFrom(harness, address)).headers['ratelimit-limit']).toBeUndefined();
  });
});

/**
 * Until a bucket taken from on one instance shows the take on the other. Before an instance's
 * connection to Redis is up, and whenever Redis answers a take later than the command timeout, the
 * instance takes from a bucket of its own, by design: counting only starts once both share. Each
 * probe uses an address of its own, so probes never draw on the counted address.
 */
async function untilBothShareBuckets(first: TestApp, second: TestApp, capacity: number): Promise<void> {
  for (let attempt = 0; attempt < 40; attempt += 1) {
    const probe = freshAddress();
    const onFirst = (await anonymousFrom(first, probe)).headers['ratelimit-remaining'];
    const onSecond = (await anonymousFrom(second, probe)).headers['ratelimit-remaining'];
    if (onFirst === String(capacity - 1) && onSecond === String(capacity - 2)) return;
    await sleep(50);
  }
  throw new Error('the two instances never took from one bucket through Redis');
}

describe('API4 rate limiting shared through Redis', () => {
  it('API4: two instances sharing one Redis enforce one limit', async () => {
    const overrides = {
      rateLimitPerIpPerMin: 4,
      trustProxyHops: 1,
      redisUrl: process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    };
    const first = await appWith(overrides);
    const second = await appWith(overrides);
    await untilBothShareBuckets(first, second, overrides.rateLimitPerIpPerMin);
    const address = freshAddress();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i += 1) {
      statuses.push((await anonymousFrom(i % 2 === 0 ? first : second, address)).status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
  });

  it('API4: with Redis unreachable, requests are still served and each instance enforces the limit itself', async () => {
    const closedPort = await sparePort();
    const harness = await appWith({
      rateLimitPerIpPerMin: 3,
      trustProxyHops: 1,
      redisUrl: `redis://127.0.0.1:${closedPort}`,
    });
    const address = freshAddress();
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await anonymousFrom(harness, address)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });
});

describe('API4 bounded bodies', () => {
  it('API4: refuses a body over BODY_LIMIT_BYTES with 413 problem and creates nothing', async () => {
    const { request } = await appWith({ bodyLimitBytes: 1024 });
    const response = await request('POST', '/api/v1/products', {
      body: { sku: 'BIG-1', name: 'x', price_minor: 1, currency: 'EUR', description: 'y'.repeat(4096) },
    });
    expect(response.status).toBe(413);
    expect(response.body.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await request('GET', '/api/v1/products')).body.data).toEqual([]);
  });
});

describeOnEachDatabase('API4 bounded requests', (harness) => {
  it('API4: refuses a page size above the maximum with 400', async () => {
    const response = await harness().request('GET', '/api/v1/products?limit=201');
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('VALIDATION_FAILED');
  });

  it('API4: refuses a reservation batch above the maximum number of lines, and a TTL above the maximum', async () => {
    const { request } = harness();
    const items = Array.from({ length: 51 }, () => ({
      product_id: '0190a0e2-0000-7000-8000-000000000001',
      store_id: 'MAD-001',
      quantity: 1,
    }));
    const batch = await request('POST', '/api/v1/reservations/batch', {
      body: { customer_id: 'c-1', items },
    });
    expect(batch.status).toBe(400);
    expect(batch.body.code).toBe('VALIDATION_FAILED');

    const store = await harness().createStore();
    const product = await harness().createProduct();
    await harness().stock(product.id, store, 10);
    const ttl = await request('POST', '/api/v1/reservations', {
      body: { product_id: product.id, store_id: store, customer_id: 'c-1', quantity: 1, ttl_seconds: 86_401 },
    });
    expect(ttl.status).toBe(422);
    expect(ttl.body.code).toBe('TTL_OUT_OF_RANGE');
  });
});

describe.skipIf(!postgresAvailable())('API4 database work is bounded', () => {
  it('API4: a statement running past DATABASE_STATEMENT_TIMEOUT_MS is cancelled by PostgreSQL', async () => {
    const database = new PgDatabase({
      connectionString: postgresAdminUrl(),
      poolSizeMax: 1,
      statementTimeoutMs: 200,
      connectionTimeoutMs: 5_000,
      applicationName: 'omnistock-test-statement-timeout',
    });
    try {
      const error = await database
        .schemaOwner()
        .query('SELECT pg_sleep(5)')
        .catch((caught: unknown) => caught);
      expect(sqlStateOf(error)).toBe(SqlState.queryCanceled);
    } finally {
      await database.close();
    }
  });
});

describe('API4 slow clients', () => {
  let harness: TestApp;
  let drop: (() => Promise<void>) | undefined;
  let port: number;

  beforeAll(async () => {
    const created = await createTestDatabase('pglite');
    drop = created.drop;
    harness = await startTestApp('pglite', created.database, {
      headersTimeoutMs: 500,
      requestTimeoutMs: 1_000,
    });
    await harness.app.server.listen({ port: 0, host: '127.0.0.1' });
    const address = harness.app.server.server.address();
    port = typeof address === 'object' && address !== null ? address.port : 0;
  });

  afterAll(async () => {
    await harness.app.close();
    await drop?.();
  });

  it('API4: disconnects a client that sends its headers byte by byte (slow-loris)', async () => {
    const socket = net.connect(port, '127.0.0.1');
    const closed = new Promise<string>((resolve) => {
      let received = '';
      socket.on('data', (chunk) => {
        received += chunk.toString();
      });
      socket.on('close', () => resolve(received));
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\n');
    // Far longer than the headers timeout if the server waited: 300 bytes at one per 100 ms.
    const header = `X-Slow: ${'a'.repeat(300)}`;
    let sent = 0;
    let open = true;
    void closed.then(() => {
      open = false;
    });
    while (open && sent < header.length) {
      socket.write(header[sent] as string);
      sent += 1;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const answer = await closed;
    expect(sent).toBeLessThan(header.length);
    expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true);
  });
});
