import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type App, buildApp } from '../../src/app.js';
import type { Database } from '../../src/platform/db/database.js';
import { createTestDatabase, postgresAvailable, testConfig } from '../support/test-app.js';

const silent = pino({ level: 'silent' });

for (const kind of ['pglite', 'postgres'] as const) {
  describe.skipIf(kind === 'postgres' && !postgresAvailable())(`first start and restarts [${kind}]`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function start(database: Database, overrides: Parameters<typeof testConfig>[0]): Promise<App> {
      const app = await buildApp({ config: testConfig(overrides), logger: silent, database });
      cleanups.push(() => app.close());
      return app;
    }

    async function status(app: App, key: string): Promise<number> {
      const response = await app.server.inject({
        method: 'GET',
        url: '/api/v1/stock/low-stock',
        headers: { 'x-api-key': key },
      });
      return response.statusCode;
    }

    it('reclaims dead rows every minute while it runs, and no more once closed', async () => {
      const { database, drop } = await createTestDatabase(kind);
      cleanups.push(drop);
      const reclaim = vi.spyOn(database, 'reclaimDeadRows');
      // Only the intervals are simulated: the app starts on real timeouts and I/O.
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      try {
        const app = await buildApp({ config: testConfig({}), logger: silent, database });
        let closed = false;
        cleanups.push(async () => {
          if (!closed) await app.close();
        });
        expect(reclaim).not.toHaveBeenCalled();
        vi.advanceTimersByTime(60_000);
        expect(reclaim).toHaveBeenCalledTimes(1);
        vi.advanceTimersByTime(60_000);
        expect(reclaim).toHaveBeenCalledTimes(2);
        await app.close();
        closed = true;
        vi.advanceTimersByTime(180_000);
        expect(reclaim).toHaveBeenCalledTimes(2);
      } finally {
        vi.useRealTimers();
      }
    });

    it('generates an admin key once when none is configured, and loads demo data once', async () => {
      const { database, drop } = await createTestDatabase(kind);
      cleanups.push(drop);
      const first = await start(database, { adminApiKey: undefined, demoData: true });
      expect(first.generatedAdminKey).toMatch(/^osk_[A-Za-z0-9_-]{43}$/);
      expect(await status(first, first.generatedAdminKey as string)).toBe(200);
      const stores = await first.server.inject({ method: 'GET', url: '/api/v1/stores' });
      expect(stores.json().data.map((store: { id: string }) => store.id)).toEqual([
        'BCN-001',
        'MAD-001',
        'VAL-001',
      ]);
      const products = await first.server.inject({ method: 'GET', url: '/api/v1/products?limit=100' });
      expect(products.json().data).toHaveLength(12);
      await first.close();
      const second = await start(database, { adminApiKey: undefined, demoData: true });
      expect(second.generatedAdminKey).toBeUndefined();
      expect(await status(second, first.generatedAdminKey as string)).toBe(200);
      const count = await database
        .schemaOwner()
        .query<{ count: number }>('SELECT count(*) AS count FROM products');
      expect(Number(count.rows[0]?.count)).toBe(12);
      const hashes = await database
        .schemaOwner()
        .query<{ key_hash: string }>('SELECT key_hash FROM api_keys');
      expect(hashes.rows.map((row) => row.key_hash)).not.toContain(first.generatedAdminKey);
    });

    it('rotates the operator-provided admin key: the new one works, the old one is revoked', async () => {
      const { database, drop } = await createTestDatabase(kind);
      cleanups.push(drop);
      const oldKey = 'operator-admin-key-version-1-xxxx';
      const newKey = 'operator-admin-key-version-2-yyyy';
      const first = await start(database, { adminApiKey: oldKey });
      expect(first.generatedAdminKey).toBeUndefined();
      expect(await status(first, oldKey)).toBe(200);
      await first.close();
      const second = await start(database, { adminApiKey: newKey });
      expect(await status(second, newKey)).toBe(200);
      expect(await status(second, oldKey)).toBe(401);
    });
  });
}
