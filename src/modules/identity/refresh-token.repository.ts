import type { Queryable } from '../../platform/db/database.js';

export interface RefreshTokenRow {
  tenant_id: string;
  id: string;
  family_id: string;
  user_id: string;
  expires_at: Date;
  spent_at: Date | null;
  revoked_at: Date | null;
}

export async function insertRefreshToken(
  db: Queryable,
  token: { tenantId: string; id: string; familyId: string; userId: string; hash: string; ttlSeconds: number },
): Promise<void> {
  await db.query(
    `INSERT INTO refresh_tokens (tenant_id, id, family_id, user_id, token_hash, expires_at)
     VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))`,
    [token.tenantId, token.id, token.familyId, token.userId, token.hash, token.ttlSeconds],
  );
}

/**
 * By hash across tenants: the token alone identifies its tenant, as an API key does. Locked, so
 * two refreshes with one token are serialised and the second one sees it spent.
 */
export async function findRefreshTokenForUpdate(
  db: Queryable,
  hash: string,
): Promise<(RefreshTokenRow & { expired: boolean }) | undefined> {
  const result = await db.query<RefreshTokenRow & { expired: boolean }>(
    `SELECT tenant_id, id, family_id, user_id, expires_at, spent_at, revoked_at, expires_at <= now() AS expired
       FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`,
    [hash],
  );
  return result.rows[0];
}

export async function markSpent(db: Queryable, tenantId: string, id: string): Promise<void> {
  await db.query('UPDATE refresh_tokens SET spent_at = now() WHERE tenant_id = $1 AND id = $2', [
    tenantId,
    id,
  ]);
}

export async function revokeFamily(db: Queryable, tenantId: string, familyId: string): Promise<number> {
  const result = await db.query(
    `UPDATE refresh_tokens SET revoked_at = now()
      WHERE tenant_id = $1 AND family_id = $2 AND revoked_at IS NULL`,
    [tenantId, familyId],
  );
  return result.rowCount;
}

export async function revokeTokensOfUser(db: Queryable, tenantId: string, userId: string): Promise<number> {
  const result = await db.query(
    `UPDATE refresh_tokens SET revoked_at = now()
      WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL`,
    [tenantId, userId],
  );
  return result.rowCount;
}

/** Deletes up to `batchSizeMax` refresh tokens that expired a day ago or more (all tenants). */
export async function purgeExpiredRefreshTokens(db: Queryable, batchSizeMax: number): Promise<number> {
  const result = await db.query(
    `DELETE FROM refresh_tokens WHERE (tenant_id, id) IN (
       SELECT tenant_id, id FROM refresh_tokens WHERE expires_at < now() - interval '1 day' LIMIT $1)`,
    [batchSizeMax],
  );
  return result.rowCount;
}
