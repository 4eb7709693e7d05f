import pino from 'pino';
import { type App, buildApp } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { parseSecretKeys } from '../../src/platform/security/secret-box.js';
import type { BenchDatabase } from './database.js';
import { BENCH_SECRETS_KEYS } from './service-process.js';

export const BENCH_ADMIN_KEY = 'bench-admin-key-0123456789abcdef';

export interface BenchService {
  app: App;
  url: string;
  database: 'pglite' | 'postgres';
  stop(): Promise<void>;
}

/** Starts the service in this process on a loopback port, on the given database (the caller drops it). */
export async function startService(
  benchDatabase: BenchDatabase,
  overrides: Partial<Config> = {},
): Promise<BenchService> {
  const config: Config = {
    ...loadConfig({}),
    databaseUrl: benchDatabase.url,
    dataDir: benchDatabase.dataDir,
    secretsEncryptionKeys: parseSecretKeys(BENCH_SECRETS_KEYS),
    adminApiKey: BENCH_ADMIN_KEY,
    demoData: false,
    logLevel: 'silent',
    ...overrides,
  };
  const app = await buildApp({ config, logger: pino({ level: 'silent' }) });
  const url = await app.server.listen({ port: 0, host: '127.0.0.1' });
  return {
    app,
    url,
    database: benchDatabase.kind,
    async stop() {
      await app.close();
    },
  };
}

/** A JSON request with the bench admin key. */
export async function call(
  base: string,
  method: string,
  route: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${base}${route}`, {
    method,
    headers: {
      'x-api-key': BENCH_ADMIN_KEY,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}
