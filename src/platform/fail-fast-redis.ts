import { Redis } from 'ioredis';
import { CACHE_POLICY } from './dependency-policies.js';

/**
 * A Redis connection for work that must never wait on Redis (the read cache, the shared rate
 * limits): no offline queue, no retried command, a deadline per command, reconnects in the
 * background with backoff. Connection errors are expected while Redis is away; the caller's breaker
 * and logs tell that story, so the client's own `error` events are heard and dropped.
 */
export function failFastRedis(url: string, commandTimeoutMs: number): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: CACHE_POLICY.connectTimeoutMs,
    commandTimeout: commandTimeoutMs,
    retryStrategy: (attempt) =>
      Math.min(attempt * CACHE_POLICY.reconnectDelayStepMs, CACHE_POLICY.reconnectDelayMaxMs),
  });
  redis.on('error', () => {});
  return redis;
}

/** Resolves true once connected, false after `timeoutMs`; never rejects, so a start never hangs on Redis. */
export function redisReady(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    redis.once('ready', onReady);
  });
}
