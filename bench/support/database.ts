import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { releaseOnInterrupt } from './interrupt-cleanup.js';

export type DatabaseKind = 'pglite' | 'postgres';

/** The PostgreSQL server the bench may create databases on, if any. */
export function postgresServerUrl(): string | undefined {
  return process.env['BENCH_DATABASE_URL'] ?? process.env['DATABASE_URL'];
}

/** PGlite always; PostgreSQL too when BENCH_DATABASE_URL (or DATABASE_URL) names a server. */
export function availableDatabases(): DatabaseKind[] {
  return postgresServerUrl() === undefined ? ['pglite'] : ['pglite', 'postgres'];
}

/** Plain SQL on the bench's database, outside the service: seeding and the checks afterwards. */
export interface SqlSession {
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
  close(): Promise<void>;
}

/**
 * One scenario's database, owned by the bench and outliving the service processes started on it:
 * a fresh PostgreSQL database, or a PGlite directory (the service's `DATA_DIR`). PGlite has one
 * connection per process, so `open()` on PGlite is only for while no service runs on it.
 */
export interface BenchDatabase {
  kind: DatabaseKind;
  /** The service's DATA_DIR (PGlite lives in its `pglite` subdirectory). */
  dataDir: string;
  /** The PostgreSQL connection string; undefined on PGlite. */
  url: string | undefined;
  pgliteDir: string;
  open(): Promise<SqlSession>;
  drop(): Promise<void>;
}

/**
 * An empty database; `from` makes it a copy of that one instead (which nothing may have open).
 * Dropped if the run is interrupted first: on PostgreSQL it is a database on the server.
 */
export async function createBenchDatabase(kind: DatabaseKind, from?: BenchDatabase): Promise<BenchDatabase> {
  const database = await createDatabase(kind, from);
  const forget = releaseOnInterrupt(() => database.drop());
  return {
    ...database,
    async drop() {
      forget();
      await database.drop();
    },
  };
}

async function createDatabase(kind: DatabaseKind, from?: BenchDatabase): Promise<BenchDatabase> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'omnistock-bench-'));
  if (from !== undefined && kind === 'pglite') await cp(from.dataDir, dataDir, { recursive: true });
  const pgliteDir = path.join(dataDir, 'pglite');
  const serverUrl = postgresServerUrl();
  if (kind === 'pglite' || serverUrl === undefined) {
    if (kind === 'postgres') throw new Error('postgres asked for but BENCH_DATABASE_URL is not set');
    return {
      kind,
      dataDir,
      url: undefined,
      pgliteDir,
      open: () => openPglite(pgliteDir),
      drop: () => rm(dataDir, { recursive: true, force: true }),
    };
  }
  const name = `omnistock_bench_${randomBytes(4).toString('hex')}`;
  const template = from?.url === undefined ? '' : ` TEMPLATE ${new URL(from.url).pathname.slice(1)}`;
  await onServer(serverUrl, `CREATE DATABASE ${name}${template}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    kind,
    dataDir,
    url: url.toString(),
    pgliteDir,
    open: () => openPostgres(url.toString()),
    async drop() {
      await onServer(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function onServer(serverUrl: string, statement: string): Promise<void> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(statement).finally(() => admin.end());
}

async function openPglite(directory: string): Promise<SqlSession> {
  const db = await PGlite.create(directory);
  return {
    async query<Row>(sql: string, params: unknown[] = []) {
      return (await db.query<Row>(sql, params)).rows;
    },
    close: () => db.close(),
  };
}

async function openPostgres(url: string): Promise<SqlSession> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    async query<Row>(sql: string, params: unknown[] = []) {
      return (await client.query(sql, params)).rows as Row[];
    },
    close: () => client.end(),
  };
}
