/**
 * A key-value cache of JSON values with a time to live. Adapters: in-process LRU (one instance) and
 * Redis (shared by every instance). A cache never fails its caller: an unreachable cache reads as a
 * miss and ignores writes, so reads fall back to the database.
 */
export interface CacheStore {
  readonly name: 'memory' | 'redis';
  /** Resolves true once usable, false if not within `timeoutMs`; never rejects. */
  ready(timeoutMs: number): Promise<boolean>;
  get<Value>(key: string): Promise<Value | undefined>;
  set(key: string, value: unknown, ttlSeconds: number): Promise<void>;
  delete(keys: readonly string[]): Promise<void>;
  close(): Promise<void>;
}
