import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Database } from './database.js';

/** Numbered, forward-only SQL files: `0001_foundation.sql`. The same files serve PostgreSQL and PGlite. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations/', import.meta.url));
const MIGRATION_FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;
/** Serialises migrators of several instances starting at once (an arbitrary, fixed key). */
const MIGRATION_LOCK_KEY = 7_340_213_901;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

export async function loadMigrations(directory = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(directory)).filter((file) => file.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = MIGRATION_FILE.exec(file);
    if (!match) throw new MigrationError(`Migration file name ${file} does not match NNNN_name.sql`);
    const sql = await readFile(`${directory}/${file}`, 'utf8');
    const version = Number(match[1]);
    if (migrations.some((migration) => migration.version === version)) {
      throw new MigrationError(`Two migrations share version ${version}`);
    }
    migrations.push({
      version,
      name: match[2] ?? file,
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
    });
  }
  return migrations;
}

/**
 * Applies pending migrations in one transaction under an advisory lock, so several instances
 * starting together apply each migration once. A migration already applied whose file changed
 * is refused: migrations are forward-only, a fix is a new file.
 */
export async function migrate(database: Database, migrations?: Migration[]): Promise<number[]> {
  const all = migrations ?? (await loadMigrations());
  return database.schemaOwner().transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.executeScript(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const applied = await tx.query<{ version: number; checksum: string }>(
      'SELECT version, checksum FROM schema_migrations ORDER BY version',
    );
    const checksums = new Map(applied.rows.map((row) => [row.version, row.checksum]));
    const newlyApplied: number[] = [];
    for (const migration of all) {
      const known = checksums.get(migration.version);
      if (known !== undefined) {
        if (known !== migration.checksum) {
          throw new MigrationError(
            `Migration ${migration.version}_${migration.name} changed after it was applied`,
          );
        }
        continue;
      }
      await tx.executeScript(migration.sql);
      await tx.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        migration.version,
        migration.name,
        migration.checksum,
      ]);
      newlyApplied.push(migration.version);
    }
    return newlyApplied;
  });
}

/** True when every migration this build knows is applied (readiness). */
export async function isFullyMigrated(database: Database, migrations: Migration[]): Promise<boolean> {
  const applied = await database
    .schemaOwner()
    .query<{ version: number }>('SELECT version FROM schema_migrations');
  const versions = new Set(applied.rows.map((row) => row.version));
  return migrations.every((migration) => versions.has(migration.version));
}
