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

export interface TenantRow {
  id: string;
  name: string;
  created_at: Date;
}

export async function insertTenant(db: Queryable, id: string, name: string): Promise<TenantRow | undefined> {
  const result = await db.query<TenantRow>(
    'INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING id, name, created_at',
    [id, name],
  );
  return result.rows[0];
}

export async function findTenant(db: Queryable, id: string): Promise<TenantRow | undefined> {
  const result = await db.query<TenantRow>('SELECT id, name, created_at FROM tenants WHERE id = $1', [id]);
  return result.rows[0];
}

export interface ApiKeyListRow {
  id: string;
  name: string;
  key_prefix: string;
  role: Role;
  store_ids: string[] | null;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const API_KEY_COLUMNS = 'id, name, key_prefix, role, store_ids, created_at, last_used_at, revoked_at';

export async function insertApiKey(
  db: Queryable,
  key: {
    tenantId: string;
    id: string;
    name: string;
    hash: string;
    prefix: string;
    role: Role;
    storeIds: readonly string[] | null;
  },
): Promise<ApiKeyListRow> {
  const result = await db.query<ApiKeyListRow>(
    `INSERT INTO api_keys (tenant_id, id, name, key_hash, key_prefix, role, store_ids)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${API_KEY_COLUMNS}`,
    [key.tenantId, key.id, key.name, key.hash, key.prefix, key.role, key.storeIds],
  );
  const row = result.rows[0];
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
  return row;
}

export async function listApiKeys(
  db: Queryable,
  tenantId: string,
  afterId: string | undefined,
  limit: number,
): Promise<ApiKeyListRow[]> {
  const result = await db.query<ApiKeyListRow>(
    `SELECT ${API_KEY_COLUMNS} FROM api_keys
      WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3`,
    [tenantId, afterId ?? null, limit + 1],
  );
  return result.rows;
}

/** Revokes one key; returns its row and hash (to forget it in the cache), or undefined if unknown. */
export async function revokeApiKey(
  db: Queryable,
  tenantId: string,
  keyId: string,
): Promise<(ApiKeyListRow & { key_hash: string }) | undefined> {
  const result = await db.query<ApiKeyListRow & { key_hash: string }>(
    `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
      WHERE tenant_id = $1 AND id = $2 RETURNING ${API_KEY_COLUMNS}, key_hash`,
    [tenantId, keyId],
  );
  return result.rows[0];
}
