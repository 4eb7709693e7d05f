import type { Queryable } from '../../platform/db/database.js';
import type { Role } from '../../platform/http/request-context.js';

export interface ApiKeyRow {
  tenant_id: string;
  id: string;
  name: string;
  role: Role;
  store_ids: string[] | null;
}

export async function insertTenantIfAbsent(db: Queryable, id: string, name: string): Promise<boolean> {
  const result = await db.query(
    'INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING',
    [id, name],
  );
  return result.rowCount === 1;
}

export async function insertApiKeyIfAbsent(
  db: Queryable,
  key: { tenantId: string; id: string; name: string; hash: string; prefix: string; role: Role },
): Promise<boolean> {
  const result = await db.query(
    `INSERT INTO api_keys (tenant_id, id, name, key_hash, key_prefix, role)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key_hash) DO NOTHING`,
    [key.tenantId, key.id, key.name, key.hash, key.prefix, key.role],
  );
  return result.rowCount === 1;
}

export async function findActiveApiKeyByHash(db: Queryable, hash: string): Promise<ApiKeyRow | undefined> {
  const result = await db.query<ApiKeyRow>(
    `SELECT tenant_id, id, name, role, store_ids FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL`,
    [hash],
  );
  return result.rows[0];
}

/** Records use at minute granularity: one write per key per minute, not one per request. */
export async function touchApiKey(db: Queryable, tenantId: string, id: string): Promise<void> {
  await db.query(
    `UPDATE api_keys SET last_used_at = now()
      WHERE tenant_id = $1 AND id = $2 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
    [tenantId, id],
  );
}

/** Revokes the tenant's keys of this name except the one with `keepHash` (rotation of a configured key). */
export async function revokeOtherKeysNamed(
  db: Queryable,
  tenantId: string,
  name: string,
  keepHash: string,
): Promise<number> {
  const result = await db.query(
    `UPDATE api_keys SET revoked_at = now()
      WHERE tenant_id = $1 AND name = $2 AND key_hash <> $3 AND revoked_at IS NULL`,
    [tenantId, name, keepHash],
  );
  return result.rowCount;
}
