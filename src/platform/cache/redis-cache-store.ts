import { ConsecutiveBreaker, circuitBreaker, handleAll } from 'cockatiel';
import type { Redis } from 'ioredis';
import { type BreakerState, breakerStateOf } from '../breaker-state.js';
import { CACHE_POLICY } from '../dependency-policies.js';
import { failFastRedis, redisReady } from '../fail-fast-redis.js';
import type { CacheStore } from './cache-store.js';

/** A cache answer slower than this is a miss: the database is the fallback, not a wait. */
export const REDIS_CACHE_COMMAND_TIMEOUT_MS = CACHE_POLICY.commandTimeoutMs;
const KEY_PREFIX = 'omnistock:cache:';

export interface CacheLogger {
  warn(details: object, message: string): void;
}

/**
 * The shared cache of several instances. Every command is bounded by a timeout and goes through a
 * circuit breaker, so Redis being down costs a read nothing but a miss (after the breaker opens,
 * not even the timeout). Commands are not queued while disconnected: a queued read is a late read.
 */
export class RedisCacheStore implements CacheStore {
  readonly name = 'redis' as const;
  readonly #redis: Redis;
  readonly #breaker = circuitBreaker(handleAll, {
    halfOpenAfter: CACHE_POLICY.breakerHalfOpenAfterMs,
    breaker: new ConsecutiveBreaker(CACHE_POLICY.breakerThreshold),
  });

  constructor(
    url: string,
    private readonly logger: CacheLogger,
  ) {
    this.#redis = failFastRedis(url, CACHE_POLICY.commandTimeoutMs);
    this.#breaker.onBreak(() => this.logger.warn({}, 'redis cache unreachable: reading from the database'));
    this.#breaker.onReset(() => this.logger.warn({}, 'redis cache reachable again'));
  }

  /** Resolves once connected, or after `timeoutMs` either way: a cache never holds up a start. */
  /** For metrics: open while Redis is failing and reads go to the database. */
  get breakerState(): BreakerState {
    return breakerStateOf(this.#breaker.state);
  }

  async ready(timeoutMs: number): Promise<boolean> {
    return redisReady(this.#redis, timeoutMs);
  }

  async get<Value>(key: string): Promise<Value | undefined> {
    const raw = await this.#attempt(() => this.#redis.get(KEY_PREFIX + key));
    if (raw === undefined || raw === null) return undefined;
    return JSON.parse(raw) as Value;
  }

  async set(key: string, value: unknown, ttlSeconds: number): Promise<void> {
    await this.#attempt(() => this.#redis.set(KEY_PREFIX + key, JSON.stringify(value), 'EX', ttlSeconds));
  }

  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.#attempt(() => this.#redis.del(...keys.map((key) => KEY_PREFIX + key)));
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }

  async #attempt<T>(command: () => Promise<T>): Promise<T | undefined> {
    try {
      return await this.#breaker.execute(command);
    } catch {
      return undefined;
    }
  }
}
