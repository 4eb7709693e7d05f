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
  /**
   * What a store that holds its entries in this process has for `key`, answered at once; stores
   * that must ask a server leave this out. A hot read then makes no promise: on Node 20 the log
   * context's async hooks run for every promise, and a request made about thirty of them.
   */
  peek?<Value>(key: string): Value | undefined;
  set(key: string, value: unknown, ttlSeconds: number): Promise<void>;
  delete(keys: readonly string[]): Promise<void>;
  close(): Promise<void>;
}
