import { readFile } from 'node:fs/promises';
import { describe, expect, inject, it } from 'vitest';
import { isFullyMigrated, loadMigrations, type Migration, MigrationError, migrate } from './migrator.js';
import { PgliteDatabase } from './pglite-database.js';

describe('migrations', () => {
  it('applies pending files once, in order, and refuses an applied file that changed', async () => {
    // The shared test image (migrated with the real files) saves a fresh data directory's 5 s.
    const database = await PgliteDatabase.open({
      kind: 'image',
      image: new Blob([await readFile(inject('pgliteImagePath'))]),
    });
    try {
      const migrations: Migration[] = [
        { version: 901, name: 'one', sql: 'CREATE TABLE one (id int)', checksum: 'a' },
        { version: 902, name: 'two', sql: 'CREATE TABLE two (id int)', checksum: 'b' },
      ];
      expect(await migrate(database, migrations.slice(0, 1))).toEqual([901]);
      expect(await isFullyMigrated(database, migrations)).toBe(false);
      expect(await migrate(database, migrations)).toEqual([902]);
      expect(await migrate(database, migrations)).toEqual([]);
      expect(await isFullyMigrated(database, migrations)).toBe(true);
      const edited = [{ ...migrations[0], checksum: 'changed' } as Migration];
      await expect(migrate(database, edited)).rejects.toBeInstanceOf(MigrationError);
      const broken = [
        ...migrations,
        { version: 903, name: 'broken', sql: 'CREATE TABLE one (id int)', checksum: 'c' },
      ];
      await expect(migrate(database, broken)).rejects.toThrow();
      expect(await isFullyMigrated(database, broken)).toBe(false);
    } finally {
      await database.close();
    }
  });

  it('ships numbered SQL files', async () => {
    const migrations = await loadMigrations();
    expect(migrations[0]).toMatchObject({ version: 1, name: 'foundation' });
    expect(migrations.map((migration) => migration.version)).toEqual(
      [...migrations.map((m) => m.version)].sort((a, b) => a - b),
    );
  });
});
