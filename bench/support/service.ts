import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { type App, buildApp } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { generateSecretKey, parseSecretKeys } from '../../src/platform/security/secret-box.js';
import { createBenchDatabase } from './database.js';

export const BENCH_ADMIN_KEY = 'bench-admin-key-0123456789abcdef';

export interface BenchService {
  app: App;
  url: string;
  database: 'pglite' | 'postgres';
  stop(): Promise<void>;
}

/**
 * Starts the service in this process on a loopback port: on PostgreSQL when BENCH_DATABASE_URL (or
 * DATABASE_URL) names a server — in a fresh database created for the run — otherwise on PGlite in a
 * temporary directory.
 */
export async function startService(overrides: Partial<Config> = {}): Promise<BenchService> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const dataDir = await mkdtemp(path.join(tmpdir(), 'omnistock-bench-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const benchDatabase = await createBenchDatabase();
  if (benchDatabase !== undefined) cleanups.push(benchDatabase.drop);
  const databaseUrl = benchDatabase?.url;
  const config: Config = {
    ...loadConfig({}),
    databaseUrl,
    dataDir,
    secretsEncryptionKeys: parseSecretKeys(generateSecretKey('bench')),
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
    database: databaseUrl === undefined ? 'pglite' : 'postgres',
    async stop() {
      await app.close();
      for (const cleanup of cleanups.reverse()) await cleanup();
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
