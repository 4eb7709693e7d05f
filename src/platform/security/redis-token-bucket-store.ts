import { createHash } from 'node:crypto';
import { ConsecutiveBreaker, circuitBreaker, handleAll } from 'cockatiel';
import type { Redis } from 'ioredis';
import { failFastRedis, redisReady } from '../fail-fast-redis.js';
import {
  type BucketDecision,
  type BucketRequest,
  MemoryTokenBucketStore,
  type TokenBucketStore,
} from './token-bucket.js';

/** A limiter answer slower than this is not waited for: the instance's own buckets decide. */
export const REDIS_RATE_LIMIT_COMMAND_TIMEOUT_MS = 50;
const REDIS_RATE_LIMIT_BREAKER_THRESHOLD = 5;
const REDIS_RATE_LIMIT_BREAKER_HALF_OPEN_AFTER_MS = 2_000;
/** One hash tag for every bucket: the script touches several keys, which Redis Cluster allows in one slot only. */
const KEY_PREFIX = 'omnistock:rate:{buckets}:';

/**
 * The refill rule of token-bucket.ts in Lua, over several buckets at once: Redis runs a script
 * atomically, so instances sharing Redis enforce one limit, and the server's clock is the only
 * clock. A bucket's key expires once it would be full again.
 */
const TAKE_SCRIPT = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local tokens = {}
local allowed = 1
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[(i - 1) * 3 + 1])
  local window = tonumber(ARGV[(i - 1) * 3 + 2])
  local stored = redis.call('HMGET', KEYS[i], 't', 'u')
  local available = capacity
  if stored[1] and stored[2] then
    local elapsed = math.max(0, now - tonumber(stored[2]))
    available = math.min(capacity, tonumber(stored[1]) + elapsed * capacity / window)
  end
  tokens[i] = available
  if available < 1 then allowed = 0 end
end
local result = { allowed }
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[(i - 1) * 3 + 1])
  local window = tonumber(ARGV[(i - 1) * 3 + 2])
  local left = tokens[i]
  if allowed == 1 then left = left - tonumber(ARGV[(i - 1) * 3 + 3]) end
  redis.call('HSET', KEYS[i], 't', tostring(left), 'u', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil((capacity - left) * window / capacity) + 1000)
  result[i + 1] = tostring(left)
end
return result
`;
const TAKE_SCRIPT_SHA = createHash('sha1').update(TAKE_SCRIPT).digest('hex');

export interface RateLimitLogger {
  warn(details: object, message: string): void;
}

/**
 * Buckets shared by every instance through Redis. Redis down or slow never fails or holds a
 * request: each command is bounded by a short timeout and a circuit breaker, and meanwhile the
 * instance's in-memory buckets enforce the limit per instance.
 */
export class RedisTokenBucketStore implements TokenBucketStore {
  readonly name = 'redis' as const;
  readonly #redis: Redis;
  readonly #fallback = new MemoryTokenBucketStore();
  readonly #breaker = circuitBreaker(handleAll, {
    halfOpenAfter: REDIS_RATE_LIMIT_BREAKER_HALF_OPEN_AFTER_MS,
    breaker: new ConsecutiveBreaker(REDIS_RATE_LIMIT_BREAKER_THRESHOLD),
  });

  constructor(url: string, logger: RateLimitLogger) {
    this.#redis = failFastRedis(url, REDIS_RATE_LIMIT_COMMAND_TIMEOUT_MS);
    this.#breaker.onBreak(() =>
      logger.warn({}, 'redis rate limiter unreachable: limits are enforced per instance'),
    );
    this.#breaker.onReset(() => logger.warn({}, 'redis rate limiter reachable again'));
  }

  /** Resolves once connected, or after `timeoutMs` either way: the fallback covers the meantime. */
  async ready(timeoutMs: number): Promise<boolean> {
    return redisReady(this.#redis, timeoutMs);
  }

  async take(requests: readonly BucketRequest[]): Promise<BucketDecision> {
    try {
      return await this.#breaker.execute(() => this.#takeShared(requests));
    } catch {
      return this.#fallback.take(requests);
    }
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
    await this.#fallback.close();
  }

  async #takeShared(requests: readonly BucketRequest[]): Promise<BucketDecision> {
    const keys = requests.map((request) => KEY_PREFIX + request.key);
    const values = requests.flatMap((request) => [request.capacity, request.refillWindowMs, request.cost]);
    let reply: unknown;
    try {
      reply = await this.#redis.evalsha(TAKE_SCRIPT_SHA, keys.length, ...keys, ...values);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      reply = await this.#redis.eval(TAKE_SCRIPT, keys.length, ...keys, ...values);
    }
    if (!Array.isArray(reply) || reply.length !== requests.length + 1) {
      throw new Error('unexpected rate limit script reply');
    }
    return {
      allowed: Number(reply[0]) === 1,
      states: reply.slice(1).map((tokens) => ({ tokens: Number(tokens) })),
    };
  }
}
