import { LRUCache } from 'lru-cache';
import type { CacheStore } from './cache-store.js';

/** Entries one instance keeps at most; the least recently used go first. */
export const LRU_CACHE_ENTRIES_MAX = 10_000;

/** The embedded default: an in-process LRU with per-entry TTL. */
export class LruCacheStore implements CacheStore {
  readonly name = 'memory' as const;
  readonly #entries = new LRUCache<string, { value: unknown }>({
    max: LRU_CACHE_ENTRIES_MAX,
    ttlAutopurge: false,
  });

  async ready(): Promise<boolean> {
    return true;
  }

  async get<Value>(key: string): Promise<Value | undefined> {
    return this.peek<Value>(key);
  }

  peek<Value>(key: string): Value | undefined {
    return this.#entries.get(key)?.value as Value | undefined;
  }

  async set(key: string, value: unknown, ttlSeconds: number): Promise<void> {
    this.#entries.set(key, { value }, { ttl: ttlSeconds * 1000 });
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.#entries.delete(key);
  }

  async close(): Promise<void> {
    this.#entries.clear();
  }
}
