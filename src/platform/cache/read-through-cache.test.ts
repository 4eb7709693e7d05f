import { describe, expect, it } from 'vitest';
import { LruCacheStore } from './lru-cache-store.js';
import { ReadThroughCache } from './read-through-cache.js';

describe('read-through cache', () => {
  it('collapses concurrent misses of one key into one load', async () => {
    const cache = new ReadThroughCache(new LruCacheStore(), 30);
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

  it('does not store a value loaded across an invalidation', async () => {
    const cache = new ReadThroughCache(new LruCacheStore(), 30);
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

  it('expires entries after their TTL', async () => {
    const store = new LruCacheStore();
    await store.set('k', 1, 0.05);
    expect(await store.get('k')).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(await store.get('k')).toBeUndefined();
  });
});
