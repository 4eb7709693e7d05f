import { LRUCache } from 'lru-cache';

/**
 * Token buckets: each key holds up to `capacity` tokens and refills continuously at
 * `capacity / refillWindowMs`. A request takes `cost` tokens (0 only looks). Unlike a fixed
 * window, a bucket never lets twice the limit through around a window boundary, and a client
 * that paces itself is never refused.
 */
export interface BucketRequest {
  key: string;
  capacity: number;
  refillWindowMs: number;
  /** 1 takes a token; 0 only checks that one is there. */
  cost: 0 | 1;
}

export interface BucketState {
  /** Tokens left after this request, fractional. */
  tokens: number;
}

export interface BucketDecision {
  /** True when every bucket held a token; only then were tokens taken, from all of them. */
  allowed: boolean;
  states: BucketState[];
}

/**
 * Where buckets live. `take` is atomic over all the buckets it is given: either every one has a
 * token and each gives `cost`, or none gives anything — so a refused request costs no quota.
 */
export interface TokenBucketStore {
  readonly name: 'memory' | 'redis';
  /** Whether the store answered within `timeoutMs`; never throws, and a store that is not ready still answers. */
  ready(timeoutMs: number): Promise<boolean>;
  take(requests: readonly BucketRequest[]): Promise<BucketDecision>;
  /**
   * The same decision, at once, from a store whose buckets live in this process; stores that must
   * ask a server leave this out. A request within its limits then costs no promise.
   */
  takeNow?(requests: readonly BucketRequest[]): BucketDecision;
  close(): Promise<void>;
}

/** Keys one instance remembers; the least recently used go first (a forgotten bucket is a full one). */
export const MEMORY_BUCKETS_MAX = 100_000;

interface StoredBucket {
  tokens: number;
  updatedAtMs: number;
}

/** The refill rule, shared by the memory store and (in Lua) the Redis store. */
export function refilled(stored: StoredBucket | undefined, request: BucketRequest, nowMs: number): number {
  if (stored === undefined) return request.capacity;
  const elapsedMs = Math.max(0, nowMs - stored.updatedAtMs);
  return Math.min(request.capacity, stored.tokens + (elapsedMs * request.capacity) / request.refillWindowMs);
}

/** One instance's buckets: the default, and the fallback while Redis cannot answer. */
export class MemoryTokenBucketStore implements TokenBucketStore {
  readonly name = 'memory' as const;
  readonly #buckets = new LRUCache<string, StoredBucket>({ max: MEMORY_BUCKETS_MAX });

  constructor(private readonly now: () => number = Date.now) {}

  async ready(): Promise<boolean> {
    return true;
  }

  async take(requests: readonly BucketRequest[]): Promise<BucketDecision> {
    return this.takeNow(requests);
  }

  takeNow(requests: readonly BucketRequest[]): BucketDecision {
    const nowMs = this.now();
    const tokens = requests.map((request) => refilled(this.#buckets.get(request.key), request, nowMs));
    const allowed = tokens.every((available) => available >= 1);
    const states = requests.map((request, index) => {
      const left = (tokens[index] as number) - (allowed ? request.cost : 0);
      this.#buckets.set(request.key, { tokens: left, updatedAtMs: nowMs });
      return { tokens: left };
    });
    return { allowed, states };
  }

  async close(): Promise<void> {
    this.#buckets.clear();
  }
}
