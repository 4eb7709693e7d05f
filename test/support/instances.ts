import type { Config } from '../../src/config.js';
import { PgDatabase } from '../../src/platform/db/pg-database.js';
import { postgresAdminUrl, withDatabaseName } from './postgres.js';
import { createTestDatabase, startTestApp, type TestApp } from './test-app.js';

/** Service instances sharing one fresh PostgreSQL database, each with a pool of its own. */
export interface InstancesOnOneDatabase {
  instances: TestApp[];
  close(): Promise<void>;
}

/**
 * Starts `count` app instances on one database cloned from the template, as `count` processes
 * would run: the first on the database's own pool, every other on a second pool to it.
 */
export async function startInstancesOnOneDatabase(
  count: number,
  poolSizeMax: number,
  configOverrides: Partial<Config> = {},
): Promise<InstancesOnOneDatabase> {
  const created = await createTestDatabase('postgres', poolSizeMax);
  const name = await created.database
    .schemaOwner()
    .query<{ name: string }>('SELECT current_database() AS name');
  const pools: PgDatabase[] = [];
  const instances = [await startTestApp('postgres', created.database, configOverrides)];
  for (let index = 1; index < count; index += 1) {
    const pool = new PgDatabase({
      connectionString: withDatabaseName(postgresAdminUrl(), name.rows[0]?.name as string),
      poolSizeMax,
      statementTimeoutMs: 30_000,
      connectionTimeoutMs: 10_000,
      applicationName: `omnistock-test-instance-${index}`,
    });
    pools.push(pool);
    instances.push(await startTestApp('postgres', pool, configOverrides));
  }
  return {
    instances,
    async close() {
      for (const instance of instances) await instance.app.close();
      for (const pool of pools) await pool.close();
      await created.drop();
    },
  };
}
