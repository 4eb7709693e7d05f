import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_ROLE, type Database, type Queryable, sqlStateOf } from '../../src/platform/db/database.js';
import { runtimeRole } from '../../src/platform/db/row-security.js';
import {
  createTestDatabase,
  describeOnEachDatabase,
  OTHER_TENANT,
  postgresAvailable,
} from '../support/test-app.js';

const DEFAULT_TENANT = 'default';
const INSUFFICIENT_PRIVILEGE = '42501';

/** Every table of the schema with a tenant_id column, and whether row-level security holds it. */
async function tenantTables(db: Database) {
  const result = await db.schemaOwner().query<{
    table_name: string;
    enabled: boolean;
    forced: boolean;
    policies: number;
  }>(
    `SELECT c.relname AS table_name, c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced,
            (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)::int AS policies
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
        AND EXISTS (SELECT 1 FROM pg_attribute a
                     WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
      ORDER BY 1`,
  );
  return result.rows;
}

describeOnEachDatabase('row-level security', (harness) => {
  async function stockOfDefaultTenant(): Promise<void> {
    const store = await harness().createStore('RLS-001');
    const product = await harness().createProduct();
    await harness().stock(product.id, store, 5);
  }

  it('holds every table with a tenant_id column: enabled, forced, with a policy', async () => {
    const tables = await tenantTables(harness().db);
    expect(tables.map((table) => table.table_name)).toEqual(
      expect.arrayContaining(['stock_levels', 'webhook_secrets', 'idempotency_keys', 'outbox_events']),
    );
    const unprotected = tables.filter((table) => !table.enabled || !table.forced || table.policies < 1);
    expect(unprotected).toEqual([]);
  });

  it('shows a transaction bound to one tenant none of another tenant’s rows, without any filter in SQL', async () => {
    await stockOfDefaultTenant();
    const { db } = harness();
    const own = await db.forTenant(DEFAULT_TENANT).query('SELECT * FROM stock_levels');
    expect(own.rows.length).toBe(1);
    for (const table of [
      'stock_levels',
      'stores',
      'products',
      'stock_movements',
      'outbox_events',
      'api_keys',
    ]) {
      const other = await db
        .forTenant(OTHER_TENANT)
        .query(`SELECT * FROM ${table} WHERE tenant_id = $1`, [DEFAULT_TENANT]);
      expect(other.rows, table).toEqual([]);
    }
    const tenants = await db.forTenant(OTHER_TENANT).query<{ id: string }>('SELECT id FROM tenants');
    expect(tenants.rows.map((row) => row.id)).toEqual([OTHER_TENANT]);
  });

  it('refuses to write a row of another tenant, and changes nothing of it', async () => {
    await stockOfDefaultTenant();
    const { db } = harness();
    const insert = db
      .forTenant(OTHER_TENANT)
      .query(`INSERT INTO stores (tenant_id, id, name, kind) VALUES ($1, 'SNEAK-1', 'x', 'store')`, [
        DEFAULT_TENANT,
      ]);
    await expect(insert).rejects.toSatisfy((error) => sqlStateOf(error) === INSUFFICIENT_PRIVILEGE);
    const update = await db
      .forTenant(OTHER_TENANT)
      .query('UPDATE stock_levels SET quantity = 0 WHERE tenant_id = $1', [DEFAULT_TENANT]);
    expect(update.rowCount).toBe(0);
    const levels = await db.schemaOwner().query<{ quantity: number }>('SELECT quantity FROM stock_levels');
    expect(levels.rows).toEqual([{ quantity: 5 }]);
    const stores = await db.schemaOwner().query("SELECT 1 FROM stores WHERE id = 'SNEAK-1'");
    expect(stores.rows).toEqual([]);
  });

  it('shows nothing to the service role when no tenant is set (fails closed)', async () => {
    await stockOfDefaultTenant();
    const visible = await harness()
      .db.schemaOwner()
      .transaction(async (tx) => {
        await tx.query(`SET LOCAL ROLE ${APP_ROLE}`);
        return tx.query('SELECT * FROM stock_levels');
      });
    expect(visible.rows).toEqual([]);
  });

  it('lets the named cross-tenant jobs see every tenant', async () => {
    await stockOfDefaultTenant();
    const rows = await harness()
      .db.system('stock-ledger-audit')
      .query<{ tenant_id: string }>('SELECT DISTINCT tenant_id FROM api_keys ORDER BY 1');
    expect(rows.rows.map((row) => row.tenant_id)).toEqual([DEFAULT_TENANT, OTHER_TENANT]);
  });

  it('runs scoped work as a role that cannot bypass row-level security', async () => {
    const { db } = harness();
    expect(await runtimeRole(db)).toEqual({ role: APP_ROLE, bypasses: false });
    const role = await db
      .forTenant(DEFAULT_TENANT)
      .query<{ current_user: string; rolbypassrls: boolean; rolsuper: boolean }>(
        'SELECT current_user, rolbypassrls, rolsuper FROM pg_roles WHERE rolname = current_user',
      );
    expect(role.rows).toEqual([{ current_user: APP_ROLE, rolbypassrls: false, rolsuper: false }]);
  });

  it('never inlines a tenant id that is not one', () => {
    expect(() => harness().db.forTenant("x'); DROP TABLE stores; --")).toThrow(/tenant id/);
    expect(() => harness().db.forTenant('')).toThrow(/tenant id/);
  });
});

describe.skipIf(!postgresAvailable())('row-level security on a pooled connection [postgres]', () => {
  let db: Database;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    // One connection: every transaction below runs on the same server session.
    ({ database: db, drop } = await createTestDatabase('postgres', 1));
  });
  afterAll(async () => drop());

  const sessionState = async () =>
    (
      await db.schemaOwner().query<{ tenant: string | null; system: string | null; role: string }>(
        `SELECT current_setting('omnistock.tenant_id', true) AS tenant,
                current_setting('omnistock.system', true) AS system, current_user AS role`,
      )
    ).rows[0];

  it('does not carry the tenant, the system scope or the role over to the next transaction', async () => {
    const seen = await db
      .forTenant('tenant-a')
      .query<{ tenant: string }>(`SELECT current_setting('omnistock.tenant_id') AS tenant`);
    expect(seen.rows[0]?.tenant).toBe('tenant-a');
    const after = await sessionState();
    expect(after?.tenant ?? '').toBe('');
    expect(after?.role).not.toBe(APP_ROLE);

    await db.system('maintenance').query('SELECT 1');
    expect((await sessionState())?.system ?? '').toBe('');

    await expect(
      db.forTenant('tenant-b').transaction(async (tx) => {
        await tx.query('SELECT 1');
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    const afterRollback = await sessionState();
    expect(afterRollback?.tenant ?? '').toBe('');
    expect(afterRollback?.role).not.toBe(APP_ROLE);
  });

  it('gives every single statement and transaction exactly its own scope, whatever the connection served before', async () => {
    const scopeOf = async (view: Queryable) =>
      (
        await view.query<{ tenant: string; system: string; role: string }>(
          `SELECT current_setting('omnistock.tenant_id', true) AS tenant,
                  current_setting('omnistock.system', true) AS system, current_user AS role`,
        )
      ).rows[0];
    // Single statements run outside a transaction on a connection left in the last one's scope:
    // each switch must reset every field, or the system scope would widen a tenant's view.
    expect(await scopeOf(db.system('maintenance'))).toEqual({ tenant: '', system: 'on', role: APP_ROLE });
    expect(await scopeOf(db.forTenant('tenant-b'))).toEqual({
      tenant: 'tenant-b',
      system: '',
      role: APP_ROLE,
    });
    expect(await scopeOf(db.forTenant('tenant-a'))).toEqual({
      tenant: 'tenant-a',
      system: '',
      role: APP_ROLE,
    });
    await db.system('maintenance').query('SELECT 1');
    expect(await db.forTenant('tenant-b').transaction((tx) => scopeOf(tx))).toEqual({
      tenant: 'tenant-b',
      system: '',
      role: APP_ROLE,
    });
    // The transaction's scope was local: the connection is back in the session scope it had.
    expect(await db.system('maintenance').transaction((tx) => scopeOf(tx))).toMatchObject({ system: 'on' });
    const owner = await scopeOf(db.schemaOwner());
    expect(owner?.role).not.toBe(APP_ROLE);
    expect([owner?.tenant, owner?.system]).toEqual(['', '']);
  });
});
