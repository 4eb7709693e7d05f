import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { seedDemoData } from './demo-data.js';
import { catalogRoutes, ProductService, StoreService } from './modules/catalog/index.js';
import { EventStreamHub, EventsService, eventsRoutes } from './modules/events/index.js';
import {
  ApiKeyService,
  AuditService,
  AuthService,
  authRoutes,
  IdentityService,
  jwksRoutes,
  loadSigningKey,
  TenantService,
  TokenService,
  tenantRoutes,
  UserService,
  userRoutes,
} from './modules/identity/index.js';
import {
  availabilityCacheKeysOf,
  type InventoryRecorder,
  ReservationExpiryScheduler,
  ReservationService,
  reservationRoutes,
  StockService,
  stockRoutes,
} from './modules/inventory/index.js';
import {
  resealWebhookSecrets,
  WebhookDispatcher,
  WebhookService,
  webhookRoutes,
} from './modules/webhooks/index.js';
import type { CacheStore } from './platform/cache/cache-store.js';
import { LruCacheStore } from './platform/cache/lru-cache-store.js';
import { ReadThroughCache } from './platform/cache/read-through-cache.js';
import { RedisCacheStore } from './platform/cache/redis-cache-store.js';
import { lockDataDir } from './platform/db/data-dir-lock.js';
import { type Database, isConnectivityError } from './platform/db/database.js';
import { isFullyMigrated, loadMigrations, migrate } from './platform/db/migrator.js';
import { PgDatabase } from './platform/db/pg-database.js';
import { PgliteDatabase } from './platform/db/pglite-database.js';
import { DatabaseUnavailableError, ResilientDatabase } from './platform/db/resilient-database.js';
import { assertRowSecurityEnforced } from './platform/db/row-security.js';
import { BROKER_POLICY, DATABASE_POLICY } from './platform/dependency-policies.js';
import type { Broker } from './platform/events/broker.js';
import type { CloudEvent } from './platform/events/cloud-event.js';
import { committedOutbox } from './platform/events/committed-outbox.js';
import { createBroker } from './platform/events/create-broker.js';
import { EventLogTail } from './platform/events/event-log-tail.js';
import { purgeInbox } from './platform/events/inbox.js';
import { OutboxRelay } from './platform/events/outbox-relay.js';
import { backlog, purgePublishedEvents } from './platform/events/outbox-store.js';
import { registerAuthentication } from './platform/http/auth.js';
import { registerHealthRoutes } from './platform/http/health.js';
import {
  purgeExpiredIdempotencyKeys,
  registerIdempotency,
  resealIdempotencyResponses,
} from './platform/http/idempotency.js';
import { registerLoadShedding } from './platform/http/load-shedding.js';
import { AppError, HttpErrors } from './platform/http/problem.js';
import { registerAddressRateLimit, registerPrincipalRateLimit } from './platform/http/rate-limit.js';
import type { RequestContext } from './platform/http/request-context.js';
import { routeOf } from './platform/http/route-of.js';
import { createHttpServer, type HttpServer } from './platform/http/server.js';
import { newId } from './platform/ids.js';
import { Metrics } from './platform/observability/metrics.js';
import { ObservedBroker } from './platform/observability/observed-broker.js';
import { Profiler } from './platform/observability/profiler.js';
import { profilingRoutes } from './platform/observability/profiling.routes.js';
import { noteTenant, observeRequests } from './platform/observability/request-observer.js';
import { tracedDatabase } from './platform/observability/traced-database.js';
import { tracingEnabled } from './platform/observability/tracing.js';
import { RedisTokenBucketStore } from './platform/security/redis-token-bucket-store.js';
import { SecretBox, type SecretKey } from './platform/security/secret-box.js';
import { loadOrCreateSecretKeyFile } from './platform/security/secret-key-file.js';
import { MemoryTokenBucketStore, type TokenBucketStore } from './platform/security/token-bucket.js';

export const API_PREFIX = '/api/v1';
const MAINTENANCE_INTERVAL_MS = 60 * 60 * 1000;
/** Rows one maintenance pass deletes from a table; a backlog goes over several passes. */
const MAINTENANCE_BATCH_SIZE_MAX = 50_000;
/** Where the database has no autovacuum (PGlite): a minute of dead rows is a small sweep. */
const DEAD_ROW_RECLAIM_INTERVAL_MS = 60 * 1000;
const IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS = 60;
const CACHE_CONNECT_WAIT_MS = 2_000;
/** How long past its TTL a cached read may be served, marked stale, while the database is down. */
const CACHE_STALE_IF_ERROR_SECONDS = 300;
/** What graceful shutdown gives the relay to publish what is still pending. */
const RELAY_FLUSH_TIMEOUT_MS = 5_000;
const EVENT_LOG_TAIL_SWEEP_INTERVAL_MS = 5_000;
const EVENT_LOG_TAIL_BATCH_SIZE_MAX = 500;
/** Answer while draining: probes and scrapes must see the instance as it is. */
const OPERATIONAL_ROUTES = new Set(['/health', '/ready', '/metrics']);
export const VERSION: string = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
).version;

export interface AppOptions {
  config: Config;
  logger: Logger;
  /** A database the caller owns (tests); otherwise one is opened from the config and closed with the app. */
  database?: Database;
  /** A broker the caller owns (tests); otherwise one is made from BROKER_URL and closed with the app. */
  broker?: Broker;
}

export interface App {
  server: HttpServer;
  database: Database;
  broker: Broker;
  relay: OutboxRelay;
  webhooks: WebhookDispatcher;
  /** The admin key generated on this start, when the operator did not provide one. */
  generatedAdminKey: string | undefined;
  close(): Promise<void>;
}

/**
 * The composition root: the only place that picks adapters and wires modules together. It opens
 * the database, applies migrations, bootstraps the default tenant, builds the HTTP server and
 * starts the background work. Nothing listens on a port here; main.ts does that.
 */
export async function buildApp(options: AppOptions): Promise<App> {
  const { config, logger } = options;
  const owned = options.database === undefined ? await openDatabase(config, logger) : undefined;
  const database = options.database ?? (owned as OwnedDatabase).database;
  try {
    return await assemble(config, logger, database, options.broker, owned?.release);
  } catch (error) {
    await owned?.database.close();
    await owned?.release();
    throw error;
  }
}

async function assemble(
  config: Config,
  logger: Logger,
  givenDatabase: Database,
  givenBroker: Broker | undefined,
  releaseDatabase?: () => Promise<void>,
): Promise<App> {
  // Observability: SQL spans when tracing (no wrapper at all otherwise).
  const observedDatabase = tracingEnabled() ? tracedDatabase(givenDatabase) : givenDatabase;
  const resilientDatabase =
    givenDatabase.kind === 'postgres'
      ? new ResilientDatabase(observedDatabase, {
          ...DATABASE_POLICY,
          callsInFlightMax: config.databasePoolSizeMax * DATABASE_POLICY.callsInFlightPerConnection,
          callsQueuedMax: config.databasePoolSizeMax * DATABASE_POLICY.callsQueuedPerConnection,
          onBreakerStateChange: (state) =>
            logger.warn({ dependency: 'database', state }, 'database circuit breaker'),
        })
      : undefined;
  // PGlite runs in the process: nothing to be unreachable, one connection that queues by itself.
  const database: Database = resilientDatabase ?? observedDatabase;
  const migrations = await loadMigrations();
  const applied = await migrate(database, migrations);
  if (applied.length > 0) logger.info({ versions: applied }, 'migrations applied');
  await assertRowSecurityEnforced(database);
  const secretBox = new SecretBox(
    config.secretsEncryptionKeys ?? (await embeddedSecretKeys(config, database)),
  );
  // After a key rotation (or once, for values stored before sealing): everything under the newest key.
  const resealed =
    (await resealWebhookSecrets(database, secretBox)) +
    (await resealIdempotencyResponses(database, secretBox));
  if (resealed > 0) logger.info({ resealed, key_id: secretBox.currentKeyId }, 'stored secrets resealed');

  const tokens = await TokenService.create({
    signingKey: await loadSigningKey(config.jwtPrivateKey, config.dataDir),
    previousPublicKey: config.jwtPreviousPublicKey,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    accessTokenTtlSeconds: config.accessTokenTtlSeconds,
  });
  const identity = new IdentityService(database, tokens, (error) =>
    logger.warn({ err: error }, "could not record an API key's last use"),
  );
  const auth = new AuthService(database, tokens, { refreshTokenTtlSeconds: config.refreshTokenTtlSeconds });
  const users = new UserService(database, identity);
  const apiKeys = new ApiKeyService(database, identity);
  const tenants = new TenantService(database);
  const audit = new AuditService(database);
  const stores = new StoreService(database);
  const products = new ProductService(database);
  const cacheStore: CacheStore =
    config.redisUrl === undefined
      ? new LruCacheStore()
      : new RedisCacheStore(config.redisUrl, logger.child({ component: 'cache' }));
  if (!(await cacheStore.ready(CACHE_CONNECT_WAIT_MS))) {
    logger.warn({ cache: cacheStore.name }, 'cache not reachable yet: reads go to the database until it is');
  }
  const availabilityCache = new ReadThroughCache(cacheStore, {
    ttlSeconds: config.cacheTtlSeconds,
    staleIfErrorSeconds: CACHE_STALE_IF_ERROR_SECONDS,
    // While the database cannot be reached, the last known availability beats an error page.
    serveStaleOn: (error) => error instanceof DatabaseUnavailableError || isConnectivityError(error),
  });
  const stock = new StockService(database, products, stores, availabilityCache);
  products.setDeletionGuard(stock);
  const reservations = new ReservationService(database, {
    ttlDefaultSeconds: config.reservationTtlDefaultSeconds,
    ttlMaxSeconds: config.reservationTtlMaxSeconds,
    unitsPerProductMax: config.reservationCustomerUnitsPerProductMax,
    openMax: config.reservationCustomerOpenMax,
  });
  const expiry = new ReservationExpiryScheduler(
    database,
    reservations,
    logger.child({ component: 'reservation-expiry' }),
  );
  reservations.onExpiryScheduled((expiresAt) => expiry.notify(expiresAt));

  const bootstrap = await identity.bootstrapTenant(
    config.defaultTenantId,
    'Default tenant',
    config.adminApiKey,
  );
  if (bootstrap.generatedAdminKey !== undefined) {
    // Shown once: only its hash is stored.
    logger.warn(
      { tenant: config.defaultTenantId, admin_api_key: undefined },
      `Generated the admin API key of tenant "${config.defaultTenantId}" (shown only now): ${bootstrap.generatedAdminKey}`,
    );
  }
  if (config.demoData && (await stores.list(config.defaultTenantId, undefined, 1)).length === 0) {
    const system: RequestContext = {
      tenantId: config.defaultTenantId,
      principal: null,
      requestId: 'demo-data',
      correlationId: newId(),
    };
    await seedDemoData(system, { stores, products, stock });
    logger.info('demo data loaded: stores MAD-001, BCN-001, VAL-001 and 12 products');
  }

  // BROKER_URL picks the broker; none means the in-process one of the embedded default.
  const rawBroker =
    givenBroker ??
    createBroker(config.brokerUrl, {
      connectTimeoutMs: BROKER_POLICY.connectTimeoutMs,
      publishTimeoutMs: config.brokerPublishTimeoutMs,
      logger: logger.child({ component: 'broker' }),
    });
  // Observability: events carry their trace and log context across the broker.
  const broker = new ObservedBroker(rawBroker);
  try {
    await broker.connect();
  } catch (error) {
    // Not fatal: changes commit into the outbox meanwhile, and the relay publishes once it connects.
    logger.warn(
      { err: error, broker: broker.name },
      'broker not reachable at start; events wait in the outbox',
    );
  }
  const metrics = new Metrics({
    backlog: {
      backlog: async () => {
        const figures = await backlog(database.system('metrics'));
        const oldest = figures.oldest_pending_created_at;
        return {
          pending: Number(figures.pending),
          oldestPendingAgeSeconds: oldest === null ? 0 : Math.max(0, (Date.now() - oldest.getTime()) / 1000),
        };
      },
    },
    cache: { name: cacheStore.name, counts: availabilityCache },
    breakers: () => [
      { dependency: `broker_${broker.name}`, state: relay.breakerState },
      ...(cacheStore instanceof RedisCacheStore
        ? [{ dependency: 'cache_redis', state: cacheStore.breakerState }]
        : []),
      ...(resilientDatabase === undefined
        ? []
        : [{ dependency: 'database', state: resilientDatabase.breakerState }]),
    ],
    openWebhookCircuits: () => webhooks.openCircuitCount(),
  });
  const inventoryRecorder: InventoryRecorder = {
    stockOperation: (operation, store, outcome) => metrics.stockOperations.inc({ operation, store, outcome }),
    reservations: (outcome, count) => metrics.reservations.inc({ outcome }, count),
  };
  stock.recordWith(inventoryRecorder);
  reservations.recordWith(inventoryRecorder);
  const relay = new OutboxRelay(
    database,
    broker,
    {
      batchSizeMax: config.outboxBatchSizeMax,
      sweepIntervalMs: config.outboxSweepIntervalMs,
      sequenceIntervalMinMs: config.outboxSequenceIntervalMinMs,
      watermarkIntervalMinMs: config.outboxWatermarkIntervalMinMs,
      publishTimeoutMs: config.brokerPublishTimeoutMs,
      exclusivity: database.kind === 'postgres' ? 'advisory-lock' : 'single-process',
      breakerThreshold: BROKER_POLICY.breakerThreshold,
      breakerHalfOpenAfterMs: config.brokerBreakerHalfOpenAfterMs,
      retryDelayMaxMs: config.brokerRetryDelayMaxMs,
      onPublish: (outcome, count) =>
        metrics.brokerPublishes.inc({ broker: broker.name, result: outcome }, count),
      // What this process sequenced reaches its own streams without a NOTIFY and a read back.
      onSequenced: (sequenced) => tail.offer(sequenced),
    },
    logger.child({ component: 'outbox-relay' }),
  );
  const tail = new EventLogTail(
    database,
    {
      batchSizeMax: EVENT_LOG_TAIL_BATCH_SIZE_MAX,
      sweepIntervalMs: EVENT_LOG_TAIL_SWEEP_INTERVAL_MS,
      localSequencing: () => relay.sequencingUnderWay(),
    },
    logger.child({ component: 'event-log-tail' }),
  );
  await tail.start();
  const streams = new EventStreamHub(database, tail, config.sseClientsMax);
  // Cache invalidation: this instance's commits at once, every instance's through the event log.
  const invalidate = (envelopes: readonly CloudEvent[]) => {
    const keys = envelopes.flatMap((envelope) => availabilityCacheKeysOf(envelope.tenantid, envelope));
    if (keys.length > 0) void availabilityCache.invalidate([...new Set(keys)]);
  };
  const stopLocalInvalidation = committedOutbox.subscribe(invalidate);
  const stopLogInvalidation = tail.subscribe((events) => invalidate(events.map((event) => event.envelope)));
  const events = new EventsService(database, broker, () => ({
    broker: broker.name,
    breakerState: relay.breakerState,
  }));
  const webhooks = new WebhookService(database, {
    allowPrivateTargets: config.webhookAllowPrivateTargets,
    secretBox,
  });
  const webhookDispatcher = new WebhookDispatcher(
    {
      database,
      broker,
      service: webhooks,
      logger: logger.child({ component: 'webhooks' }),
      secretBox,
      recordDelivery: (result) => metrics.webhookDeliveries.inc({ result }),
    },
    { timeoutMs: config.webhookTimeoutMs, allowPrivateTargets: config.webhookAllowPrivateTargets },
  );

  const profiler = new Profiler();
  let shuttingDown = false;
  const server = await createHttpServer({
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    requestTimeoutMs: config.requestTimeoutMs,
    headersTimeoutMs: config.headersTimeoutMs,
    keepAliveTimeoutMs: config.keepAliveTimeoutMs,
    connectionsMax: config.httpConnectionsMax,
    trustProxyHops: config.trustProxyHops,
    corsAllowedOrigins: config.corsAllowedOrigins,
    version: VERSION,
  });
  // Draining: requests already admitted finish; new ones (on kept-alive connections) are told to go
  // elsewhere. Liveness still answers: a draining instance is not a dead one.
  server.addHook('onRequest', (request, reply, done) => {
    if (!shuttingDown || OPERATIONAL_ROUTES.has(routeOf(request).url ?? '')) {
      done();
      return;
    }
    reply.header('connection', 'close');
    done(
      new AppError(
        HttpErrors.unavailable,
        'This instance is shutting down; retry',
        {},
        { 'retry-after': '1' },
      ),
    );
  });
  // REDIS_URL makes one limit across instances; without it, or while Redis is away, each instance's own.
  const rateLimitStore: TokenBucketStore =
    config.redisUrl === undefined
      ? new MemoryTokenBucketStore()
      : new RedisTokenBucketStore(config.redisUrl, logger.child({ component: 'rate-limit' }));
  if (!(await rateLimitStore.ready(CACHE_CONNECT_WAIT_MS))) {
    logger.warn('rate limiter store not reachable yet: each instance enforces the limits alone until it is');
  }
  const rateLimit = {
    store: rateLimitStore,
    limits: {
      perIpPerMin: config.rateLimitPerIpPerMin,
      perPrincipalPerMin: config.rateLimitPerKeyPerMin,
      perTenantPerMin: config.rateLimitPerTenantPerMin,
    },
  };
  registerAddressRateLimit(server, rateLimit);
  // Observability: the request's log context, server span, access log line and duration metric.
  observeRequests(server, (method, route, statusCode, durationSeconds) =>
    metrics.httpRequestDuration.observe({ method, route, status_code: String(statusCode) }, durationSeconds),
  );
  server.get('/metrics', { schema: { hide: true } }, async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.exposition()),
  );
  registerHealthRoutes(server, {
    liveness: [{ name: 'database', check: () => database.ping() }],
    readiness: [
      { name: 'database', check: () => database.ping() },
      // Informational: a broker outage does not stop the API (events wait in the outbox).
      {
        name: 'broker',
        critical: false,
        check: async () => {
          if (relay.breakerState !== 'closed')
            throw new Error(`circuit ${relay.breakerState}: events wait in the outbox`);
        },
      },
      ...(cacheStore instanceof RedisCacheStore
        ? [
            {
              name: 'cache',
              critical: false,
              check: async () => {
                if (cacheStore.breakerState !== 'closed')
                  throw new Error('redis unreachable: reads go to the database');
              },
            },
          ]
        : []),
      {
        name: 'migrations',
        check: async () => {
          if (!(await isFullyMigrated(database, migrations))) throw new Error('pending migrations');
        },
      },
    ],
    isShuttingDown: () => shuttingDown,
  });
  await server.register(jwksRoutes(tokens));
  await server.register(
    async (api) => {
      await registerLoadShedding(api, { eventLoopDelayMaxMs: config.loadShedEventLoopDelayMaxMs });
      registerAuthentication(api, {
        authenticator: identity,
        defaultTenantId: config.defaultTenantId,
        // Observability: once authenticated, the tenant joins the request's log lines and span.
        established: (request, context) => noteTenant(request, context.tenantId, context.correlationId),
      });
      registerPrincipalRateLimit(api, rateLimit);
      registerIdempotency(api, {
        database,
        retentionSeconds: config.idempotencyRetentionSeconds,
        claimTimeoutSeconds: IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS,
        secretBox,
      });
      await api.register(catalogRoutes(stores, products));
      await api.register(stockRoutes(stock));
      await api.register(reservationRoutes(reservations));
      await api.register(eventsRoutes(events, streams));
      await api.register(webhookRoutes(webhooks));
      await api.register(authRoutes(auth));
      await api.register(userRoutes({ users, apiKeys, audit }));
      await api.register(tenantRoutes(tenants, config.operatorApiKey));
      // Observability: on-demand CPU profiles and heap snapshots for the operator.
      await api.register(profilingRoutes(profiler, config.defaultTenantId));
    },
    { prefix: API_PREFIX },
  );
  await server.ready();

  expiry.start();
  try {
    // Before the relay: the in-process broker hands messages only to groups that already exist.
    await webhookDispatcher.start();
    await relay.start();
  } catch (error) {
    // Leave nothing running against a database the caller is about to close.
    await relay.stop(0);
    await webhookDispatcher.stop();
    await expiry.stop();
    streams.closeAll();
    await tail.stop();
    throw error;
  }
  const retentionSeconds = config.eventRetentionDays * 24 * 3600;
  const maintenance = setInterval(() => {
    Promise.all([
      purgeExpiredIdempotencyKeys(database.system('maintenance')),
      purgePublishedEvents(database.system('maintenance'), retentionSeconds, MAINTENANCE_BATCH_SIZE_MAX),
      purgeInbox(database.system('maintenance'), retentionSeconds),
      auth.purgeExpiredRefreshTokens(MAINTENANCE_BATCH_SIZE_MAX),
    ]).catch((error: unknown) => logger.error({ err: error }, 'maintenance purge failed'));
  }, MAINTENANCE_INTERVAL_MS);
  maintenance.unref();
  const deadRowReclaim = setInterval(() => {
    database
      .reclaimDeadRows()
      .catch((error: unknown) => logger.error({ err: error }, 'reclaiming dead rows failed'));
  }, DEAD_ROW_RECLAIM_INTERVAL_MS);
  deadRowReclaim.unref();

  return {
    server,
    database,
    broker: rawBroker,
    relay,
    webhooks: webhookDispatcher,
    generatedAdminKey: bootstrap.generatedAdminKey,
    async close() {
      shuttingDown = true;
      clearInterval(maintenance);
      clearInterval(deadRowReclaim);
      // Live streams never end by themselves; server.close() would wait for them.
      streams.closeAll();
      await server.close();
      await expiry.stop();
      await relay.stop(RELAY_FLUSH_TIMEOUT_MS);
      await webhookDispatcher.stop();
      stopLocalInvalidation();
      stopLogInvalidation();
      await tail.stop();
      await cacheStore.close();
      await rateLimitStore.close();
      if (givenBroker === undefined) await rawBroker.close();
      if (releaseDatabase !== undefined) {
        await database.close();
        await releaseDatabase();
      }
    },
  };
}

/**
 * The embedded default's keys: a file beside the data (mode 0600), created on first start. A server
 * database needs SECRETS_ENCRYPTION_KEYS instead (config.ts refuses to start without it), because
 * every instance must open what any of them sealed.
 */
async function embeddedSecretKeys(config: Config, database: Database): Promise<SecretKey[]> {
  if (database.kind !== 'pglite') {
    throw new Error('SECRETS_ENCRYPTION_KEYS is required with a PostgreSQL database');
  }
  const dataDir = path.resolve(config.dataDir);
  await mkdir(dataDir, { recursive: true });
  return loadOrCreateSecretKeyFile(dataDir);
}

export interface OwnedDatabase {
  database: Database;
  release: () => Promise<void>;
}

/** DATABASE_URL → PostgreSQL; otherwise PGlite under DATA_DIR, locked to this process. */
export async function openDatabase(config: Config, logger: Logger): Promise<OwnedDatabase> {
  if (config.databaseUrl !== undefined) {
    const database = new PgDatabase({
      connectionString: config.databaseUrl,
      poolSizeMax: config.databasePoolSizeMax,
      statementTimeoutMs: config.databaseStatementTimeoutMs,
      connectionTimeoutMs: DATABASE_POLICY.connectTimeoutMs,
      applicationName: 'omnistock',
    });
    return { database, release: async () => {} };
  }
  const dataDir = path.resolve(config.dataDir);
  const release = await lockDataDir(dataDir, (error) => {
    logger.fatal(
      { err: error },
      'lost the lock on the embedded data directory; stopping to protect the data',
    );
    process.exit(1);
  });
  try {
    logger.info({ data_dir: dataDir }, 'opening the embedded database (PGlite)');
    const database = await PgliteDatabase.open({ kind: 'directory', dataDir: path.join(dataDir, 'pglite') });
    return { database, release };
  } catch (error) {
    await release();
    throw error;
  }
}
