import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import pino, { type Logger } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, inject } from 'vitest';
import { type App, buildApp } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { type Database, SqlState, sqlStateOf } from '../../src/platform/db/database.js';
import { PgDatabase } from '../../src/platform/db/pg-database.js';
import { PgliteDatabase } from '../../src/platform/db/pglite-database.js';
import type { Broker } from '../../src/platform/events/broker.js';
import { newId } from '../../src/platform/ids.js';
import { displayPrefixOf, hashApiKey } from '../../src/platform/security/api-key.js';
import { parseSecretKeys, SecretBox } from '../../src/platform/security/secret-box.js';
import { postgresAdminUrl, withDatabaseName } from './postgres.js';

export type DatabaseKind = 'pglite' | 'postgres';
const RESET_ATTEMPTS_MAX = 5;
export const ADMIN_KEY = 'test-admin-key-0123456789abcdef';
export const OTHER_TENANT = 'other-tenant';
export const OTHER_TENANT_KEY = 'test-other-tenant-key-0123456789';
const TENANT_DATA_TABLES = [
  'reservations',
  'stock_movements',
  'stock_levels',
  'products',
  'stores',
  'outbox_events',
  'idempotency_keys',
  'inbox_events',
  'webhook_deliveries',
  'webhook_secrets',
  'webhook_endpoints',
  'refresh_tokens',
  'audit_log',
  'users',
];
/** One signing key per test process: nothing is written into DATA_DIR. */
export const TEST_JWT_KEY = generateKeyPairSync('ed25519').privateKey;

export interface TestResponse<Body = any> {
  status: number;
  body: Body;
  headers: Record<string, string | string[] | number | undefined>;
}

export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** An API key, or null for an anonymous call. Defaults to the admin key of the default tenant. */
  key?: string | null;
}

export interface TestApp {
  readonly kind: DatabaseKind;
  readonly app: App;
  readonly db: Database;
  request<Body = any>(method: string, url: string, options?: RequestOptions): Promise<TestResponse<Body>>;
  createStore(id?: string, name?: string): Promise<string>;
  createProduct(overrides?: Record<string, unknown>): Promise<any>;
  stock(productId: string, storeId: string, quantity: number, lowStockThreshold?: number): Promise<any>;
}

/** A fixed key, so that every test app (and a second instance in a test) opens what another sealed. */
export const TEST_SECRET_KEYS = parseSecretKeys(`test-1:${Buffer.alloc(32, 7).toString('base64')}`);

export function testSecretBox(): SecretBox {
  return new SecretBox(TEST_SECRET_KEYS);
}

export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    ...loadConfig({}),
    secretsEncryptionKeys: TEST_SECRET_KEYS,
    adminApiKey: ADMIN_KEY,
    jwtPrivateKey: TEST_JWT_KEY,
    demoData: false,
    logLevel: 'silent',
    databasePoolSizeMax: 20,
    // A loaded test machine's event loop lags; shedding is tested where it is switched on.
    loadShedEventLoopDelayMaxMs: 0,
    // The suite makes many requests from one address and customer: the tests of these limits set them.
    rateLimitPerIpPerMin: 0,
    rateLimitPerKeyPerMin: 0,
    rateLimitPerTenantPerMin: 0,
    reservationCustomerUnitsPerProductMax: 1_000_000,
    reservationCustomerOpenMax: 100_000,
    ...overrides,
  };
}

/** Whether the PostgreSQL half of the suite can run (global setup decided). */
export function postgresAvailable(): boolean {
  return inject('postgresTemplate') !== null;
}

/** A fresh, migrated database of the given kind: PGlite from the shared image, PostgreSQL cloned from the template. */
export async function createTestDatabase(
  kind: DatabaseKind,
  poolSizeMax = 20,
  /** PostgreSQL: how the service's connections reach the new database (another user, a proxy). */
  connectVia: (url: URL) => URL = (url) => url,
): Promise<{ database: Database; drop: () => Promise<void> }> {
  if (kind === 'pglite') {
    const image = new Blob([await readFile(inject('pgliteImagePath'))]);
    const database = await PgliteDatabase.open({ kind: 'image', image });
    return { database, drop: () => database.close() };
  }
  const template = inject('postgresTemplate');
  if (template === null) throw new Error('PostgreSQL is not available');
  const name = `${template.replace(/_template$/, '')}_${randomBytes(6).toString('hex')}`;
  const adminUrl = postgresAdminUrl();
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  } finally {
    await admin.end();
  }
  const database = new PgDatabase({
    connectionString: connectVia(new URL(withDatabaseName(adminUrl, name))).toString(),
    poolSizeMax,
    statementTimeoutMs: 30_000,
    connectionTimeoutMs: 10_000,
    applicationName: 'omnistock-test',
  });
  return {
    database,
    drop: async () => {
      await database.close();
      const cleanup = new pg.Client({ connectionString: adminUrl });
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => cleanup.end());
    },
  };
}

/**
 * Declares `body` once per database kind: a describe block with an app on a database of that kind,
 * shared by the file's tests and emptied of tenant data before each test. PostgreSQL blocks are
 * skipped, visibly, when no server is reachable.
 */
export function describeOnEachDatabase(
  title: string,
  body: (harness: () => TestApp) => void,
  configOverrides: Partial<Config> = {},
): void {
  for (const kind of ['pglite', 'postgres'] as const) {
    describe.skipIf(kind === 'postgres' && !postgresAvailable())(`${title} [${kind}]`, () => {
      let harness: TestApp | undefined;
      let drop: (() => Promise<void>) | undefined;
      beforeAll(async () => {
        const created = await createTestDatabase(kind);
        drop = created.drop;
        harness = await startTestApp(kind, created.database, configOverrides);
      });
      afterAll(async () => {
        await harness?.app.close();
        await drop?.();
      });
      beforeEach(async () => {
        await resetTenantData((harness as TestApp).db);
      });
      body(() => {
        if (harness === undefined) throw new Error('the test app is not started');
        return harness;
      });
    });
  }
}

/**
 * Empties every tenant-owned table between tests. The app's background work (relay, expiry, webhook
 * worker) keeps running meanwhile, and TRUNCATE's table locks can deadlock with one of its
 * transactions: PostgreSQL then aborts one side, and the reset simply tries again. The app's memory
 * of rows that never change in production (a store's name and kind) outlives the reset: a test that
 * reuses a store id of an earlier test of its file must give it the same name and kind.
 */
export async function resetTenantData(db: Database): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await db.schemaOwner().query(`TRUNCATE ${TENANT_DATA_TABLES.join(', ')} CASCADE`);
      return;
    } catch (error) {
      if (sqlStateOf(error) !== SqlState.deadlockDetected || attempt >= RESET_ATTEMPTS_MAX) throw error;
    }
  }
}

export async function startTestApp(
  kind: DatabaseKind,
  db: Database,
  configOverrides: Partial<Config> = {},
  broker?: Broker,
  logger?: Logger,
): Promise<TestApp> {
  const app = await buildApp({
    config: testConfig(configOverrides),
    logger: logger ?? pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }),
    database: db,
    ...(broker === undefined ? {} : { broker }),
  });
  await db
    .schemaOwner()
    .query(`INSERT INTO tenants (id, name) VALUES ($1, 'Other tenant') ON CONFLICT DO NOTHING`, [
      OTHER_TENANT,
    ]);
  await db.schemaOwner().query(
    `INSERT INTO api_keys (tenant_id, id, name, key_hash, key_prefix, role)
     VALUES ($1, $2, 'other admin', $3, $4, 'admin') ON CONFLICT (key_hash) DO NOTHING`,
    [OTHER_TENANT, newId(), hashApiKey(OTHER_TENANT_KEY), displayPrefixOf(OTHER_TENANT_KEY)],
  );

  const request: TestApp['request'] = async (method, url, options = {}) => {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    const key = options.key === undefined ? ADMIN_KEY : options.key;
    if (key !== null) headers['x-api-key'] = key;
    const payload =
      options.body === undefined
        ? undefined
        : typeof options.body === 'string'
          ? options.body
          : JSON.stringify(options.body);
    if (payload !== undefined && headers['content-type'] === undefined)
      headers['content-type'] = 'application/json';
    const response = await app.server.inject({
      method: method as 'GET',
      url,
      headers,
      ...(payload === undefined ? {} : { payload }),
    });
    const contentType = String(response.headers['content-type'] ?? '');
    const body =
      contentType.includes('json') && response.body !== '' ? JSON.parse(response.body) : response.body;
    return { status: response.statusCode, body, headers: response.headers };
  };

  let sequence = 0;
  const harness: TestApp = {
    kind,
    app,
    db,
    request,
    async createStore(id = `STORE-${++sequence}`, name = `Store ${id}`) {
      const response = await request('POST', '/api/v1/stores', { body: { id, name, kind: 'store' } });
      if (response.status !== 201)
        throw new Error(`store: ${response.status} ${JSON.stringify(response.body)}`);
      return id;
    },
    async createProduct(overrides = {}) {
      const sku = `SKU-${Date.now().toString(36)}-${++sequence}`;
      const response = await request('POST', '/api/v1/products', {
        body: {
          sku,
          name: `Product ${sku}`,
          price_minor: 1999,
          currency: 'EUR',
          category: 'test',
          ...overrides,
        },
      });
      if (response.status !== 201)
        throw new Error(`product: ${response.status} ${JSON.stringify(response.body)}`);
      return response.body;
    },
    async stock(productId, storeId, quantity, lowStockThreshold = 0) {
      const response = await request('POST', '/api/v1/stock', {
        body: { product_id: productId, store_id: storeId, quantity, low_stock_threshold: lowStockThreshold },
      });
      if (response.status !== 201)
        throw new Error(`stock: ${response.status} ${JSON.stringify(response.body)}`);
      return response.body;
    },
  };
  return harness;
}
