import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../src/platform/db/migrator.js';
import { PgDatabase } from '../../src/platform/db/pg-database.js';
import { PgliteDatabase } from '../../src/platform/db/pglite-database.js';
import { postgresAdminUrl, TEST_DATABASE_PREFIX, withDatabaseName } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteImagePath: string;
    postgresTemplate: string | null;
  }
}

/**
 * Migrates once per run: a PGlite image that every test file loads (about 1 s, against 5 s for a
 * fresh data directory), and a PostgreSQL template database that every test file clones.
 * With OMNISTOCK_REQUIRE_SERVICES=1 (CI) an unreachable PostgreSQL fails the run; otherwise its
 * tests are skipped and the reason is printed.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const workDir = await mkdtemp(path.join(tmpdir(), 'omnistock-test-'));
  const image = await PgliteDatabase.open({ kind: 'memory' });
  await migrate(image);
  const imagePath = path.join(workDir, 'pglite-image.tar');
  await writeFile(imagePath, Buffer.from(await (await image.dumpImage()).arrayBuffer()));
  await image.close();
  project.provide('pgliteImagePath', imagePath);

  const template = `${TEST_DATABASE_PREFIX}${process.pid}_template`;
  const adminUrl = postgresAdminUrl();
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3_000 });
  let postgresReady = false;
  try {
    await admin.connect();
    await dropLeftovers(admin, (pid) => !isAlive(pid));
    await admin.query(`CREATE DATABASE ${template}`);
    const database = new PgDatabase({
      connectionString: withDatabaseName(adminUrl, template),
      poolSizeMax: 1,
      statementTimeoutMs: 60_000,
      connectionTimeoutMs: 5_000,
      applicationName: 'omnistock-test-setup',
    });
    await migrate(database);
    await database.close();
    postgresReady = true;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (process.env['OMNISTOCK_REQUIRE_SERVICES'] === '1') {
      throw new Error(
        `PostgreSQL is required (OMNISTOCK_REQUIRE_SERVICES=1) but ${adminUrl} failed: ${reason}`,
      );
    }
    process.stdout.write(
      `\nSKIPPED: tests on PostgreSQL — no server at ${adminUrl} (${reason}). Set TEST_DATABASE_URL.\n\n`,
    );
  }
  project.provide('postgresTemplate', postgresReady ? template : null);

  return async () => {
    if (postgresReady) {
      await dropLeftovers(admin, (pid) => pid === process.pid).catch(() => {});
    }
    await admin.end().catch(() => {});
    await rm(workDir, { recursive: true, force: true });
  };
}

/**
 * Test databases are named `omnistock_test_<pid>_…` after the run that made them: this drops those
 * of the runs `shouldDrop` picks (this one at the end; dead ones, which a killed run leaves behind).
 */
async function dropLeftovers(admin: pg.Client, shouldDrop: (pid: number) => boolean): Promise<void> {
  const result = await admin.query<{ datname: string }>(
    'SELECT datname FROM pg_database WHERE datname LIKE $1',
    [`${TEST_DATABASE_PREFIX}%`],
  );
  for (const { datname } of result.rows) {
    const pid = Number(datname.slice(TEST_DATABASE_PREFIX.length).split('_')[0]);
    if (Number.isInteger(pid) && shouldDrop(pid)) {
      await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
