import { describe, expect, it } from 'vitest';
import { LruCacheStore } from './lru-cache-store.js';
import { ReadThroughCache } from './read-through-cache.js';

class Unreachable extends Error {}
const OPTIONS = {
  ttlSeconds: 30,
  staleIfErrorSeconds: 300,
  serveStaleOn: (error: unknown) => error instanceof Unreachable,
};

describe('read-through cache', () => {
  it('collapses concurrent misses of one key into one load', async () => {
    const cache = new ReadThroughCache(new LruCacheStore(), OPTIONS);
    let loads = 0;
    const load = async () => {
      loads += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { available: 7 };
    };
    const values = await Promise.all(Array.from({ length: 25 }, () => cache.get('k', load)));
    expect(loads).toBe(1);
    expect(values.every((value) => value.available === 7)).toBe(true);
    expect(await cache.get('k', load)).toEqual({ available: 7 });
    expect(loads).toBe(1);
    expect(cache.hits).toBe(1);
  });

  it('peeks at a fresh value held in the process: none before a load, none after invalidation or expiry', async () => {
    const cache = new ReadThroughCache(new LruCacheStore(), { ...OPTIONS, ttlSeconds: 0.05 });
    expect(cache.peek('k')).toBeUndefined();
    await cache.get('k', async () => ({ available: 3 }));
    expect(cache.peek('k')).toEqual({ available: 3 });
    expect(cache.hits).toBe(1);
    await cache.invalidate(['k']);
    expect(cache.peek('k')).toBeUndefined();
    await cache.get('k', async () => ({ available: 4 }));
    await new Promise((resolve) => setTimeout(resolve, 60));
    // Past its freshness it may still be served stale by `read` when loading fails, never by a peek.
    expect(cache.peek('k')).toBeUndefined();
  });

  it('peeks at nothing in a store that must ask a server', async () => {
    const remote = new LruCacheStore();
    const serverLike = {
      name: 'redis' as const,
      ready: async () => true,
      get: <Value>(key: string) => remote.get<Value>(key),
      set: (key: string, value: unknown, ttl: number) => remote.set(key, value, ttl),
      delete: (keys: readonly string[]) => remote.delete(keys),
      close: () => remote.close(),
    };
    const cache = new ReadThroughCache(serverLike, OPTIONS);
    await cache.get('k', async () => 5);
    expect(cache.peek('k')).toBeUndefined();
    expect(await cache.get('k', async () => 6)).toBe(5);
  });

  it('does not store a value loaded across an invalidation', async () => {
    const cache = new ReadThroughCache(new LruCacheStore(), OPTIONS);
    let version = 1;
    let release: () => void = () => {};
    const slowLoad = () =>
      new Promise<number>((resolve) => {
        const seen = version;
        release = () => resolve(seen);
      });
    const pending = cache.get('k', slowLoad);
    await new Promise((resolve) => setImmediate(resolve));
    version = 2;
    await cache.invalidate(['k']);
    release();
    expect(await pending).toBe(1);
    expect(await cache.get('k', async () => version)).toBe(2);
  });

  it('does not store a load that found nothing: it is looked for again on the next read', async () => {
    const cache = new ReadThroughCache(new LruCacheStore(), OPTIONS);
    let created: { id: string } | undefined;
    let loads = 0;
    const load = async () => {
      loads += 1;
      return created;
    };
    expect(await cache.get('k', load)).toBeUndefined();
    created = { id: 'k' };
    expect(await cache.get('k', load)).toEqual({ id: 'k' });
    expect(await cache.get('k', load)).toEqual({ id: 'k' });
    expect(loads).toBe(2);
  });

  it('expires entries after their TTL', async () => {
    const store = new LruCacheStore();
    await store.set('k', 1, 0.05);
    expect(await store.get('k')).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(await store.get('k')).toBeUndefined();
  });

  it('serves a value past its freshness, marked stale, only while loading fails as unreachable', async () => {
    const cache = new ReadThroughCache(new LruCacheStore(), { ...OPTIONS, ttlSeconds: 0.05 });
    await cache.get('k', async () => 1);
    await new Promise((resolve) => setTimeout(resolve, 80));
    const stale = await cache.read('k', async () => {
      throw new Unreachable('database down');
    });
    expect(stale).toMatchObject({ value: 1, stale: true });
    expect(cache.staleHits).toBe(1);
    // Any other failure is the caller's to see.
    await expect(
      cache.read('k', async () => {
        throw new Error('bug');
      }),
    ).rejects.toThrow('bug');
    // Once the database answers again the value is fresh, and no longer marked.
    expect(await cache.read('k', async () => 2)).toEqual({ value: 2, stale: false, staleForSeconds: 0 });
  });

  it('never serves an invalidated value, even when loading fails', async () => {
    const cache = new ReadThroughCache(new LruCacheStore(), OPTIONS);
    await cache.get('k', async () => 1);
    await cache.invalidate(['k']);
    await expect(
      cache.read('k', async () => {
        throw new Unreachable('database down');
      }),
    ).rejects.toThrow('database down');
  });
});
