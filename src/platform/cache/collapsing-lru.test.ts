import { describe, expect, it } from 'vitest';
import { CollapsingLru } from './collapsing-lru.js';

function deferred<Value>() {
  let resolve!: (value: Value) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<Value>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('CollapsingLru', () => {
  it('runs one load for concurrent lookups of a missing key and serves the value from memory after', async () => {
    const cache = new CollapsingLru<{ name: string }>({ entriesMax: 10, ttlMs: 60_000 });
    const load = deferred<{ name: string }>();
    let loads = 0;
    const loader = () => {
      loads += 1;
      return load.promise;
    };
    const lookups = Array.from({ length: 16 }, () => cache.get('key', loader));
    load.resolve({ name: 'one' });
    const values = await Promise.all(lookups);
    expect(loads).toBe(1);
    expect(new Set(values).size).toBe(1);
    expect(await cache.get('key', loader)).toEqual({ name: 'one' });
    expect(loads).toBe(1);
  });

  it('does not remember a load that found nothing, nor one that failed', async () => {
    const cache = new CollapsingLru<{ name: string }>({ entriesMax: 10, ttlMs: 60_000 });
    expect(await cache.get('key', async () => undefined)).toBeUndefined();
    await expect(cache.get('key', async () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(await cache.get('key', async () => ({ name: 'found' }))).toEqual({ name: 'found' });
  });

  it('does not store what a load forgotten during its run returns', async () => {
    const cache = new CollapsingLru<{ name: string }>({ entriesMax: 10, ttlMs: 60_000 });
    const load = deferred<{ name: string }>();
    const before = cache.get('key', () => load.promise);
    cache.forget('key');
    load.resolve({ name: 'read before the change' });
    expect(await before).toEqual({ name: 'read before the change' });
    expect(await cache.get('key', async () => ({ name: 'after' }))).toEqual({ name: 'after' });
  });

  it('loads again once an entry has expired', async () => {
    const cache = new CollapsingLru<{ n: number }>({ entriesMax: 10, ttlMs: 20 });
    let loads = 0;
    const loader = async () => ({ n: ++loads });
    expect(await cache.get('key', loader)).toEqual({ n: 1 });
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(await cache.get('key', loader)).toEqual({ n: 2 });
  });
});
