import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { PgliteDatabase } from '../../src/platform/db/pglite-database.js';
import { backlog } from '../../src/platform/events/outbox-store.js';
import { sparePort } from '../brokers/server-process.js';
import { ADMIN_KEY } from '../support/test-app.js';

const MAIN = path.resolve(import.meta.dirname, '../../src/main.ts');
const READY_TIMEOUT_MS = 60_000;
const CHANGES = 300;
const CONCURRENCY = 16;

async function call(
  base: string,
  method: string,
  url: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${base}${url}`, {
    method,
    headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

describe('graceful shutdown on SIGTERM', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('finishes the requests in flight, flushes the outbox and exits 0; every acknowledged change is kept', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'omnistock-shutdown-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const port = await sparePort();
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        PATH: process.env['PATH'],
        HOME: process.env['HOME'],
        PORT: String(port),
        HOST: '127.0.0.1',
        DATA_DIR: dataDir,
        LOG_LEVEL: 'error',
        DEMO_DATA: 'false',
        OMNISTOCK_ADMIN_API_KEY: ADMIN_KEY,
        LOAD_SHED_EVENT_LOOP_DELAY_MS: '0',
      },
    });
    cleanups.push(async () => child.kill('SIGKILL'));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (
      !(await fetch(`${base}/ready`).then(
        (response) => response.ok,
        () => false,
      ))
    ) {
      if (Date.now() > deadline) throw new Error('the service did not become ready');
      await sleep(100);
    }
    await call(base, 'POST', '/api/v1/stores', { id: 'SHUT-001', name: 'Shutdown' });
    const product = await call(base, 'POST', '/api/v1/products', {
      sku: 'SHUT-1',
      name: 'Shutdown',
      price_minor: 100,
      currency: 'EUR',
    });
    await call(base, 'POST', '/api/v1/stock', {
      product_id: product.body.id,
      store_id: 'SHUT-001',
      quantity: 10_000,
    });

    let acknowledged = 0;
    let refused = 0;
    const serverErrors: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < CHANGES) {
        next += 1;
        if (next === CHANGES / 3) child.kill('SIGTERM');
        try {
          const response = await call(base, 'POST', `/api/v1/stock/${product.body.id}/SHUT-001/adjust`, {
            quantity_change: -1,
            reason: 'SALE',
          });
          if (response.status === 200) acknowledged += 1;
          // Refused while draining, as a problem document: not processed, and says so.
          else if (response.status === 503 && response.body.code === 'SERVICE_UNAVAILABLE') refused += 1;
          else serverErrors.push(`${response.status} ${JSON.stringify(response.body)}`);
        } catch {
          // Connection refused or closed before a response: not acknowledged, so not owed.
          refused += 1;
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    expect(await exited).toBe(0);
    expect(serverErrors).toEqual([]);
    expect(acknowledged).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);

    // The process is gone: read what it left behind.
    const database = await PgliteDatabase.open({ kind: 'directory', dataDir: path.join(dataDir, 'pglite') });
    try {
      const level = await database
        .schemaOwner()
        .query<{ quantity: number }>('SELECT quantity FROM stock_levels');
      expect(level.rows[0]?.quantity).toBe(10_000 - acknowledged);
      // The relay flushed before exiting: every committed event reached the (in-process) broker.
      expect(Number((await backlog(database.schemaOwner())).pending)).toBe(0);
    } finally {
      await database.close();
    }
  }, 120_000);
});
