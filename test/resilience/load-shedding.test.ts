import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/platform/db/database.js';
import { createTestDatabase, startTestApp, type TestApp, type TestResponse } from '../support/test-app.js';

/** Blocks the event loop for most of every period, as a CPU-bound overload would. */
function saturateEventLoop(busyMs: number, periodMs: number): () => void {
  const timer = setInterval(() => {
    const until = performance.now() + busyMs;
    while (performance.now() < until) {
      // busy: nothing else runs meanwhile
    }
  }, periodMs);
  return () => clearInterval(timer);
}

describe('load shedding', () => {
  let database: Database;
  let drop: () => Promise<void>;
  let harness: TestApp;

  beforeAll(async () => {
    ({ database, drop } = await createTestDatabase('pglite'));
    harness = await startTestApp('pglite', database, { loadShedEventLoopDelayMaxMs: 50 });
  });
  afterAll(async () => {
    await harness.app.close();
    await drop();
  });

  it('answers 503 at once while the event loop is saturated, keeps /health answering, and recovers', async () => {
    const api: TestResponse[] = [];
    const health: TestResponse[] = [];
    const stop = saturateEventLoop(150, 160);
    try {
      const until = Date.now() + 2_500;
      while (Date.now() < until) {
        api.push(await harness.request('GET', '/api/v1/stores'));
        health.push(await harness.request('GET', '/health', { key: null }));
        await sleep(20);
      }
    } finally {
      stop();
    }
    const shed = api.filter((response) => response.status === 503);
    expect(shed.length).toBeGreaterThan(0);
    for (const response of shed) {
      expect(response.body.code).toBe('SERVICE_OVERLOADED');
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
    }
    // Anything not shed was served normally; liveness never reports an overloaded instance as dead.
    for (const response of api) expect([200, 503]).toContain(response.status);
    for (const response of health) expect(response.status).toBe(200);

    // Once the loop is free again, the next samples clear the pressure.
    await sleep(1_000);
    expect((await harness.request('GET', '/api/v1/stores')).status).toBe(200);
  });
});
