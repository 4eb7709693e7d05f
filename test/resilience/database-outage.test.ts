import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgDatabase } from '../../src/platform/db/pg-database.js';
import {
  type PrivatePostgres,
  privatePostgresAvailable,
  startPrivatePostgres,
} from '../support/private-postgres.js';
import { startTestApp, type TestApp, type TestResponse } from '../support/test-app.js';

/**
 * PostgreSQL failing under the service: stopped, paused (SIGSTOP: only client-side deadlines fire),
 * a backend killed mid-query (the postmaster then resets every connection). The service must answer
 * fast 503s with Retry-After, never a 500 and never a hung request, must not crash, and must
 * recover by itself; nothing it acknowledged may be lost.
 */

const STATEMENT_TIMEOUT_MS = 1_000;
const CONNECT_TIMEOUT_MS = 1_000;
/**
 * A request that hangs is one that outlives every client deadline (connect, query) together; a
 * bound on "no hung request", far above any healthy latency, not a speed target.
 */
const HUNG_REQUEST_MS = 5_000;
const RECOVERY_TIMEOUT_MS = 30_000;

describe.skipIf(!privatePostgresAvailable())('when PostgreSQL fails', () => {
  let postgres: PrivatePostgres;
  let database: PgDatabase;
  let harness: TestApp;
  let store: string;
  let product: string;
  /** Units of every change the service acknowledged (200), to check against the ledger afterwards. */
  let acknowledgedChange = 0;
  /**
   * Changes answered with an error since the count was last reset. While a backend is killed, the
   * outcome of such a change is unknown to the client (the connection may have been lost after the
   * server committed and before its answer arrived); with the server down or paused, no commit was
   * ever sent.
   */
  let unacknowledgedChanges = 0;

  beforeAll(async () => {
    postgres = await startPrivatePostgres();
    database = new PgDatabase({
      connectionString: postgres.url,
      poolSizeMax: 10,
      statementTimeoutMs: STATEMENT_TIMEOUT_MS,
      connectionTimeoutMs: CONNECT_TIMEOUT_MS,
      applicationName: 'omnistock-outage-test',
    });
    // A 1 s TTL, so that a read during the outage is past its freshness and must be marked stale.
    harness = await startTestApp('postgres', database, { cacheTtlSeconds: 1 });
    store = await harness.createStore('OUT-001');
    product = (await harness.createProduct()).id;
    await harness.stock(product, store, 10_000);
  }, 60_000);

  afterAll(async () => {
    postgres?.server.resume();
    await harness?.app.close();
    await database?.close();
    await postgres?.server.stop('SIGINT');
    postgres?.remove();
  });

  async function adjust(): Promise<{ response: TestResponse; elapsedMs: number }> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const response = await Promise.race([
      harness.request('POST', `/api/v1/stock/${product}/${store}/adjust`, {
        body: { quantity_change: -1, reason: 'SALE' },
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('a request hung')), HUNG_REQUEST_MS * 2);
      }),
    ]).finally(() => clearTimeout(timer));
    if (response.status === 200) acknowledgedChange -= 1;
    else unacknowledgedChanges += 1;
    return { response, elapsedMs: performance.now() - started };
  }

  function expectFastUnavailable({ response, elapsedMs }: { response: TestResponse; elapsedMs: number }) {
    expect(response.status, JSON.stringify(response.body)).toBe(503);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
    expect(response.body.code).toMatch(/^SERVICE_/);
    expect(JSON.stringify(response.body)).not.toMatch(/at .*\.ts:|SELECT|UPDATE/);
    expect(elapsedMs).toBeLessThan(HUNG_REQUEST_MS);
  }

  async function untilNothingPending(): Promise<void> {
    const deadline = Date.now() + RECOVERY_TIMEOUT_MS;
    while ((await harness.request('GET', '/api/v1/events/pending')).body.pending !== 0) {
      if (Date.now() > deadline) throw new Error('events stayed pending');
      await sleep(50);
    }
    await sleep(100); // the event-log tail hands them to the cache right after they are sequenced
  }

  async function untilServing(): Promise<void> {
    const deadline = Date.now() + RECOVERY_TIMEOUT_MS;
    for (;;) {
      const { response } = await adjust();
      if (response.status === 200) return;
      expect([503], JSON.stringify(response.body)).toContain(response.status);
      if (Date.now() > deadline) throw new Error('the service did not recover');
      await sleep(200);
    }
  }

  it('answers 503 with Retry-After while the server is down, serves cached reads marked stale, and recovers when it returns', async () => {
    // Once the setup's events went through (each drops the cached view), warm the availability
    // cache, then let the value go past its freshness.
    await untilNothingPending();
    const warm = await harness.request('GET', `/api/v1/products/${product}/availability`, { key: null });
    expect(warm.status).toBe(200);
    expect(warm.headers['cache-status']).toBeUndefined();
    await sleep(1_100);

    await postgres.server.stop('SIGINT');
    const outcomes = [];
    for (let attempt = 0; attempt < 8; attempt += 1) outcomes.push(await adjust());
    for (const outcome of outcomes) expectFastUnavailable(outcome);
    // After a few refused connections the breaker opens: the database is not even tried.
    // (A refused connection says "A dependency is unavailable"; the open breaker names the database.)
    expect(outcomes.at(-1)?.response.body.detail).toMatch(/^The database is unavailable/);

    const stale = await harness.request('GET', `/api/v1/products/${product}/availability`, { key: null });
    expect(stale.status, JSON.stringify(stale.body)).toBe(200);
    expect(stale.body.total_available).toBe(warm.body.total_available);
    expect(String(stale.headers['cache-status'])).toMatch(/stale-if-error/);

    await postgres.server.start(RECOVERY_TIMEOUT_MS);
    await untilServing();
    const fresh = await harness.request('GET', `/api/v1/products/${product}/availability`, { key: null });
    expect(fresh.status).toBe(200);
    expect(fresh.headers['cache-status']).toBeUndefined();
  }, 90_000);

  it('answers 503 within its own deadlines while the server is paused (SIGSTOP), then at once, and recovers on SIGCONT', async () => {
    await untilServing();
    postgres.server.pause();
    try {
      // Concurrent requests: each waits at most for its connect or query deadline.
      const first = await Promise.all(Array.from({ length: 8 }, () => adjust()));
      for (const outcome of first) expectFastUnavailable(outcome);
      // The breaker is open now: refusals no longer wait for a deadline.
      const next = await adjust();
      expectFastUnavailable(next);
      expect(next.elapsedMs).toBeLessThan(CONNECT_TIMEOUT_MS);
    } finally {
      postgres.server.resume();
    }
    await untilServing();
  }, 90_000);

  it('survives a backend killed mid-query: every connection is reset, requests fail as 503, then succeed again', async () => {
    await untilServing();
    // Through the stop and the pause, exactly the acknowledged changes were applied.
    const before = await harness.request('GET', `/api/v1/stock/${product}/${store}`);
    expect(before.body.quantity).toBe(10_000 + acknowledgedChange);
    unacknowledgedChanges = 0;
    const load = (async () => {
      const outcomes: TestResponse[] = [];
      const stopAt = Date.now() + 3_000;
      while (Date.now() < stopAt) {
        const batch = await Promise.all(Array.from({ length: 4 }, () => adjust()));
        outcomes.push(...batch.map((outcome) => outcome.response));
      }
      return outcomes;
    })();
    await sleep(500);
    const killer = new pg.Client({ connectionString: postgres.url });
    await killer.connect();
    const backends = await killer.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE application_name = 'omnistock-outage-test' LIMIT 1`,
    );
    await killer.end();
    const victim = backends.rows[0]?.pid;
    expect(victim).toBeDefined();
    process.kill(victim as number, 'SIGKILL');

    const outcomes = await load;
    for (const response of outcomes)
      expect([200, 503], JSON.stringify(response.body)).toContain(response.status);
    await untilServing();

    // Nothing acknowledged was lost: the level shows every acknowledged change, and no more than
    // those plus the ones refused while the backend was killed, whose answer may have been lost
    // with their connection after the commit.
    const level = await harness.request('GET', `/api/v1/stock/${product}/${store}`);
    expect(level.status).toBe(200);
    expect(level.body.quantity).toBeLessThanOrEqual(10_000 + acknowledgedChange);
    expect(level.body.quantity).toBeGreaterThanOrEqual(10_000 + acknowledgedChange - unacknowledgedChanges);
  }, 90_000);
});
