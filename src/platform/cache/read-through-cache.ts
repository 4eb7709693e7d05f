import type { Span } from '@opentelemetry/api';
import { inSpan } from '../observability/tracing.js';
import type { CacheStore } from './cache-store.js';

/**
 * Cache-aside with collapsed misses: concurrent reads of one missing key run one load and share
 * its result. An invalidation during a load wins: the loaded value is returned to its callers but
 * not stored, since it may predate the change that invalidated it.
 */
export class ReadThroughCache {
  readonly #loading = new Map<string, { promise: Promise<unknown>; invalidated: boolean }>();
  hits = 0;
  misses = 0;

  constructor(
    private readonly store: CacheStore,
    private readonly ttlSeconds: number,
  ) {}

  async get<Value>(key: string, load: () => Promise<Value>): Promise<Value> {
    return inSpan('cache get', { attributes: { 'omnistock.cache.store': this.store.name } }, (span) =>
      this.#get(key, load, span),
    );
  }

  async #get<Value>(key: string, load: () => Promise<Value>, span: Span | undefined): Promise<Value> {
    const cached = await this.store.get<Value>(key);
    span?.setAttribute('omnistock.cache.hit', cached !== undefined);
    if (cached !== undefined) {
      this.hits += 1;
      return cached;
    }
    const inFlight = this.#loading.get(key);
    if (inFlight !== undefined) return inFlight.promise as Promise<Value>;
    this.misses += 1;
    const loading = { promise: Promise.resolve() as Promise<unknown>, invalidated: false };
    loading.promise = (async () => {
      try {
        const value = await load();
        if (!loading.invalidated) await this.store.set(key, value, this.ttlSeconds);
        return value;
      } finally {
        this.#loading.delete(key);
      }
    })();
    this.#loading.set(key, loading);
    return loading.promise as Promise<Value>;
  }

  async invalidate(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      const loading = this.#loading.get(key);
      if (loading !== undefined) loading.invalidated = true;
    }
    await this.store.delete(keys);
  }
}
