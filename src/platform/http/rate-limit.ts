import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { BucketDecision, BucketRequest, TokenBucketStore } from '../security/token-bucket.js';
import { AppError, HttpErrors } from './problem.js';
import { routeOf } from './route-of.js';

/** Limits are per minute: a bucket holds a minute's worth and refills over a minute. */
export const RATE_LIMIT_WINDOW_MS = 60_000;
/** Probes and scrapes are never throttled: a throttled probe restarts a healthy instance. */
export const RATE_LIMIT_EXEMPT_ROUTES: ReadonlySet<string> = new Set(['/health', '/ready', '/metrics']);

export interface RateLimits {
  /** Requests per minute per client address that are not authenticated (0: off). */
  perIpPerMin: number;
  /** Per principal (API key or user), authenticated requests (0: off). */
  perPrincipalPerMin: number;
  /** Per tenant, all its principals together (0: off). */
  perTenantPerMin: number;
}

type Scope = 'ip' | 'principal' | 'tenant';

interface ScopedBucket extends BucketRequest {
  scope: Scope;
}

export interface RateLimitOptions {
  store: TokenBucketStore;
  limits: RateLimits;
}

/**
 * Per address, before authentication, on the whole server: an anonymous request takes a token
 * from its address's bucket. A request with credentials only checks that bucket — its address
 * pays only when the credentials are refused — so key guessing from one address is stopped
 * before it costs a key lookup, while a proxy serving many authenticated clients is not.
 */
export function registerAddressRateLimit(server: FastifyInstance, options: RateLimitOptions): void {
  const { store, limits } = options;
  if (limits.perIpPerMin === 0) return;
  const bucketOf = (request: FastifyRequest, cost: 0 | 1): ScopedBucket => ({
    scope: 'ip',
    key: `ip:${request.ip}`,
    capacity: limits.perIpPerMin,
    refillWindowMs: RATE_LIMIT_WINDOW_MS,
    cost,
  });
  server.addHook('onRequest', (request, reply, done) => {
    if (isExempt(request)) {
      done();
      return;
    }
    const credentialed = hasCredentials(request);
    const bucket = bucketOf(request, credentialed ? 0 : 1);
    takeAndEnforce(
      store,
      [bucket],
      credentialed ? undefined : (name, value) => reply.header(name, value),
      done,
    );
  });
  server.addHook('onResponse', (request, reply, done) => {
    if (reply.statusCode === 401 && hasCredentials(request) && !isExempt(request)) {
      store.take([bucketOf(request, 1)]).then(() => done(), done);
      return;
    }
    done();
  });
}

/**
 * Per principal and per tenant, after authentication (register it after the auth hook). Anonymous
 * requests do not draw on a tenant's budget: anyone may name a tenant, and must not be able to
 * spend its quota.
 */
export function registerPrincipalRateLimit(api: FastifyInstance, options: RateLimitOptions): void {
  const { store, limits } = options;
  if (limits.perPrincipalPerMin === 0 && limits.perTenantPerMin === 0) return;
  api.addHook('onRequest', (request, reply, done) => {
    const { principal, tenantId } = request.context;
    if (principal === null) {
      done();
      return;
    }
    const buckets: ScopedBucket[] = [];
    if (limits.perPrincipalPerMin > 0) {
      buckets.push({
        scope: 'principal',
        key: `principal:${tenantId}:${principal.kind}:${principal.id}`,
        capacity: limits.perPrincipalPerMin,
        refillWindowMs: RATE_LIMIT_WINDOW_MS,
        cost: 1,
      });
    }
    if (limits.perTenantPerMin > 0) {
      buckets.push({
        scope: 'tenant',
        key: `tenant:${tenantId}`,
        capacity: limits.perTenantPerMin,
        refillWindowMs: RATE_LIMIT_WINDOW_MS,
        cost: 1,
      });
    }
    takeAndEnforce(store, buckets, (name, value) => reply.header(name, value), done);
  });
}

/**
 * Takes from the buckets and enforces the decision: at once from a store that can decide at once
 * (the hooks are callback hooks, so a request within its limits costs no promise), otherwise when
 * the store answers. A refusal is thrown, or passed on, as the 429 problem document.
 */
function takeAndEnforce(
  store: TokenBucketStore,
  buckets: readonly ScopedBucket[],
  setHeader: ((name: string, value: string) => void) | undefined,
  done: (error?: Error) => void,
): void {
  const decided = store.takeNow?.(buckets);
  if (decided !== undefined) {
    enforce(buckets, decided, setHeader);
    done();
    return;
  }
  store
    .take(buckets)
    .then((decision) => enforce(buckets, decision, setHeader))
    .then(() => done(), done);
}

/**
 * Reports the bucket nearest to empty in `RateLimit-Limit`, `RateLimit-Remaining` and
 * `RateLimit-Reset` (seconds until it is full again), and refuses with a 429 when one is empty.
 */
function enforce(
  buckets: readonly ScopedBucket[],
  decision: BucketDecision,
  setHeader: ((name: string, value: string) => void) | undefined,
): void {
  let binding = 0;
  decision.states.forEach((state, index) => {
    const current = decision.states[binding]?.tokens ?? Number.POSITIVE_INFINITY;
    if (state.tokens < current) binding = index;
  });
  const bucket = buckets[binding];
  const tokens = decision.states[binding]?.tokens;
  if (bucket === undefined || tokens === undefined) return;
  const msPerToken = bucket.refillWindowMs / bucket.capacity;
  const headers: Record<string, string> = {
    'ratelimit-limit': String(bucket.capacity),
    'ratelimit-remaining': String(Math.max(0, Math.floor(tokens))),
    'ratelimit-reset': String(Math.ceil(((bucket.capacity - tokens) * msPerToken) / 1000)),
  };
  if (decision.allowed) {
    if (setHeader !== undefined) for (const [name, value] of Object.entries(headers)) setHeader(name, value);
    return;
  }
  const retryAfterSeconds = Math.max(1, Math.ceil(((1 - tokens) * msPerToken) / 1000));
  throw new AppError(
    HttpErrors.rateLimited,
    `Too many requests for this ${bucket.scope}; retry in ${retryAfterSeconds} s`,
    { limit_scope: bucket.scope, retry_after_seconds: retryAfterSeconds },
    { ...headers, 'retry-after': String(retryAfterSeconds) },
  );
}

function isExempt(request: FastifyRequest): boolean {
  return RATE_LIMIT_EXEMPT_ROUTES.has(routeOf(request).url ?? '');
}

function hasCredentials(request: FastifyRequest): boolean {
  return request.headers['x-api-key'] !== undefined || request.headers.authorization !== undefined;
}
