import type { Queryable } from '../../platform/db/database.js';
import type { Role } from '../../platform/http/request-context.js';

export interface UserRow {
  id: string;
  email: string;
  password_hash: string;
  role: Role;
  store_ids: string[] | null;
  disabled_at: Date | null;
  version: number;
  created_at: Date;
  updated_at: Date;
}

const USER_COLUMNS =
  'id, email, password_hash, role, store_ids, disabled_at, version, created_at, updated_at';

/** Undefined when the email is taken in this tenant. */
export async function insertUser(
  db: Queryable,
  tenantId: string,
  user: { id: string; email: string; passwordHash: string; role: Role; storeIds: readonly string[] | null },
): Promise<UserRow | undefined> {
  const result = await db.query<UserRow>(
    `INSERT INTO users (tenant_id, id, email, password_hash, role, store_ids)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, email) DO NOTHING
     RETURNING ${USER_COLUMNS}`,
    [tenantId, user.id, user.email, user.passwordHash, user.role, user.storeIds],
  );
  return result.rows[0];
}

export async function findUserByEmail(
  db: Queryable,
  tenantId: string,
  email: string,
): Promise<UserRow | undefined> {
  const result = await db.query<UserRow>(
    `SELECT ${USER_COLUMNS} FROM users WHERE tenant_id = $1 AND email = $2`,
    [tenantId, email],
  );
  return result.rows[0];
}

export async function findUser(
  db: Queryable,
  tenantId: string,
  userId: string,
  options: { forUpdate?: boolean } = {},
): Promise<UserRow | undefined> {
  const result = await db.query<UserRow>(
    `SELECT ${USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2${options.forUpdate ? ' FOR UPDATE' : ''}`,
    [tenantId, userId],
  );
  return result.rows[0];
}

/** Fetches `limit + 1` rows after `afterId` so the caller knows whether another page exists. */
export async function listUsers(
  db: Queryable,
  tenantId: string,
  afterId: string | undefined,
  limit: number,
): Promise<UserRow[]> {
  const result = await db.query<UserRow>(
    `SELECT ${USER_COLUMNS} FROM users
      WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3`,
    [tenantId, afterId ?? null, limit + 1],
  );
  return result.rows;
}

export async function updateUser(
  db: Queryable,
  tenantId: string,
  userId: string,
  change: { role: Role; storeIds: readonly string[] | null; disabled: boolean },
): Promise<UserRow | undefined> {
  const result = await db.query<UserRow>(
    `UPDATE users
        SET role = $3, store_ids = $4,
            disabled_at = CASE WHEN $5::boolean THEN coalesce(disabled_at, now()) ELSE NULL END,
            version = version + 1, updated_at = now()
      WHERE tenant_id = $1 AND id = $2
      RETURNING ${USER_COLUMNS}`,
    [tenantId, userId, change.role, change.storeIds, change.disabled],
  );
  return result.rows[0];
}

export async function updatePasswordHash(
  db: Queryable,
  tenantId: string,
  userId: string,
  passwordHash: string,
): Promise<void> {
  await db.query('UPDATE users SET password_hash = $3 WHERE tenant_id = $1 AND id = $2', [
    tenantId,
    userId,
    passwordHash,
  ]);
}
