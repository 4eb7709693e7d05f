import type { Span } from '@opentelemetry/api';
import { inSpan } from '../observability/tracing.js';
import type { CacheStore } from './cache-store.js';

export interface ReadThroughCacheOptions {
  /** How long a value is served as fresh. */
  ttlSeconds: number;
  /**
   * How long past its freshness a value is kept to be served when loading fails with an error
   * `serveStaleOn` accepts (the database is unreachable): stale-if-error, RFC 5861. 0 turns it off.
   */
  staleIfErrorSeconds: number;
  serveStaleOn: (error: unknown) => boolean;
}

/** A cached value, and whether it is served past its freshness because loading failed. */
export interface CacheRead<Value> {
  value: Value;
  stale: boolean;
  /** Seconds since the value went stale (0 when fresh). */
  staleForSeconds: number;
}

interface Entry<Value> {
  value: Value;
  /** Epoch milliseconds until which the value is fresh. */
  fresh_until: number;
}

/**
 * Cache-aside with collapsed misses: concurrent reads of one missing key run one load and share
 * its result. An invalidation during a load wins: the loaded value is returned to its callers but
 * not stored, since it may predate the change that invalidated it. A load that finds nothing
 * (`undefined`) is not stored either: what is missing now may exist a moment later. An invalidated
 * value is gone, never served stale; a merely old one may be, while the database cannot be reached.
 */
export class ReadThroughCache {
  readonly #loading = new Map<string, { promise: Promise<unknown>; invalidated: boolean }>();
  hits = 0;
  misses = 0;
  staleHits = 0;

  constructor(
    private readonly store: CacheStore,
    private readonly options: ReadThroughCacheOptions,
  ) {}

  /**
   * A fresh value the store can answer at once (an in-process store), without a promise or a span;
   * undefined when there is none, or when only a server could tell: then `read` or `get`.
   */
  peek<Value>(key: string): Value | undefined {
    const cached = this.store.peek?.<Entry<Value>>(key);
    if (cached === undefined || cached.fresh_until <= Date.now()) return undefined;
    this.hits += 1;
    return cached.value;
  }

  async get<Value>(key: string, load: () => Promise<Value>): Promise<Value> {
    return (await this.read(key, load)).value;
  }

  async read<Value>(key: string, load: () => Promise<Value>): Promise<CacheRead<Value>> {
    return inSpan('cache get', { attributes: { 'omnistock.cache.store': this.store.name } }, (span) =>
      this.#read(key, load, span),
    );
  }

  async #read<Value>(
    key: string,
    load: () => Promise<Value>,
    span: Span | undefined,
  ): Promise<CacheRead<Value>> {
    const cached = await this.store.get<Entry<Value>>(key);
    const now = Date.now();
    span?.setAttribute('omnistock.cache.hit', cached !== undefined && cached.fresh_until > now);
    if (cached !== undefined && cached.fresh_until > now) {
      this.hits += 1;
      return { value: cached.value, stale: false, staleForSeconds: 0 };
    }
    try {
      return { value: await this.#load(key, load), stale: false, staleForSeconds: 0 };
    } catch (error) {
      if (cached === undefined || !this.options.serveStaleOn(error)) throw error;
      this.staleHits += 1;
      return {
        value: cached.value,
        stale: true,
        staleForSeconds: Math.ceil((now - cached.fresh_until) / 1000),
      };
    }
  }

  async invalidate(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      const loading = this.#loading.get(key);
      if (loading !== undefined) loading.invalidated = true;
    }
    await this.store.delete(keys);
  }

  #load<Value>(key: string, load: () => Promise<Value>): Promise<Value> {
    const inFlight = this.#loading.get(key);
    if (inFlight !== undefined) return inFlight.promise as Promise<Value>;
    this.misses += 1;
    const loading = { promise: Promise.resolve() as Promise<unknown>, invalidated: false };
    loading.promise = (async () => {
      try {
        const value = await load();
        if (!loading.invalidated && value !== undefined) {
          const entry: Entry<Value> = { value, fresh_until: Date.now() + this.options.ttlSeconds * 1000 };
          await this.store.set(key, entry, this.options.ttlSeconds + this.options.staleIfErrorSeconds);
        }
        return value;
      } finally {
        this.#loading.delete(key);
      }
    })();
    this.#loading.set(key, loading);
    return loading.promise as Promise<Value>;
  }
}
