import type { Database } from './database.js';

export class RowSecurityError extends Error {
  override name = 'RowSecurityError';
}

interface RuntimeRole {
  role: string;
  bypasses: boolean;
}

/** The role scoped work really runs as, and whether row-level security would hold it. */
export async function runtimeRole(database: Database): Promise<RuntimeRole> {
  const result = await database.system('startup-check').query<RuntimeRole>(
    `SELECT current_user AS role, (rolsuper OR rolbypassrls) AS bypasses
       FROM pg_roles WHERE rolname = current_user`,
  );
  const row = result.rows[0];
  if (row === undefined) throw new RowSecurityError('The runtime role is missing from pg_roles');
  return row;
}

/**
 * Refuses to serve when the role of scoped work is not held by the policies: tenant isolation
 * would then rest on the SQL alone, silently. Checked once at start, after migrations.
 */
export async function assertRowSecurityEnforced(database: Database): Promise<void> {
  const role = await runtimeRole(database);
  if (role.bypasses) {
    throw new RowSecurityError(
      `The database role ${role.role} bypasses row-level security (superuser or BYPASSRLS); ` +
        'scoped work must run as a role the policies hold',
    );
  }
}
