import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/platform/db/database.js';
import { createTestDatabase, postgresAvailable } from '../support/test-app.js';

/** The pool's statements are prepared under names: parsed once per connection, then only bound. */
describe.skipIf(!postgresAvailable())('pooled statements [postgres]', () => {
  let db: Database;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    // One connection: every statement below meets the same server session.
    ({ database: db, drop } = await createTestDatabase('postgres', 1));
  });
  afterAll(async () => {
    await drop();
  });

  const preparedOnTheConnection = async () =>
    (
      await db.schemaOwner().query<{ statement: string }>('SELECT statement FROM pg_prepared_statements')
    ).rows.map((row) => row.statement);

  it('are prepared once on a connection, in transactions, with COMMIT and alone', async () => {
    // A text of its own for each way a statement reaches the pool, each run three times.
    const inTransaction = 'SELECT $1::integer + 1 AS next /* in a transaction */';
    const withCommit = 'SELECT $1::integer + 1 AS next /* with COMMIT */';
    const alone = 'SELECT $1::integer + 1 AS next /* alone */';
    for (let run = 0; run < 3; run += 1) {
      await db.forTenant('default').transaction(async (tx) => {
        await tx.query(inTransaction, [run]);
        tx.commitWith({ sql: withCommit, params: [run] });
      });
      await db.schemaOwner().query(alone, [run]);
    }
    const prepared = await preparedOnTheConnection();
    for (const sql of [inTransaction, withCommit, alone])
      expect(
        prepared.filter((statement) => statement === sql),
        sql,
      ).toHaveLength(1);
  });

  it('keep each tenant to its own rows once PostgreSQL has settled on a generic plan', async () => {
    const owner = db.schemaOwner();
    for (const tenant of ['prepared-a', 'prepared-b']) {
      await owner.query(`INSERT INTO tenants (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING`, [tenant]);
      await owner.query(`INSERT INTO stores (tenant_id, id, name, kind) VALUES ($1, 'PREP-1', $1, 'store')`, [
        tenant,
      ]);
    }
    // The same text, run often enough in one tenant's scope for a cached generic plan, then in another's.
    const namesSeen = async (tenant: string) =>
      (
        await db
          .forTenant(tenant)
          .transaction((tx) => tx.query<{ name: string }>('SELECT name FROM stores /* rls */'))
      ).rows.map((row) => row.name);
    for (let run = 0; run < 8; run += 1) expect(await namesSeen('prepared-a')).toEqual(['prepared-a']);
    const plans = await owner.query<{ generic_plans: number }>(
      `SELECT generic_plans FROM pg_prepared_statements WHERE statement LIKE '%/* rls */%'`,
    );
    expect(plans.rows[0]?.generic_plans).toBeGreaterThan(0);
    expect(await namesSeen('prepared-b')).toEqual(['prepared-b']);
    expect(await namesSeen('prepared-a')).toEqual(['prepared-a']);
  });

  it('take no more names past the cap, so texts built anew on every call cannot pile up on the server', async () => {
    for (let built = 0; built < 300; built += 1)
      await db.schemaOwner().query(`SELECT ${built} AS built_per_call`);
    const prepared = await preparedOnTheConnection();
    expect(prepared.length).toBeLessThanOrEqual(256);
    expect(prepared.filter((statement) => statement.includes('built_per_call')).length).toBeGreaterThan(200);
  });
});
