import type { Queryable } from '../../platform/db/database.js';
import { newId } from '../../platform/ids.js';

/** The security-relevant actions the audit log records; literal strings, stable once published. */
export const AuditActions = {
  tenantCreated: 'tenant.created',
  login: 'auth.login',
  loginFailed: 'auth.login_failed',
  registered: 'auth.registered',
  logout: 'auth.logout',
  refreshReuseDetected: 'auth.refresh_reuse_detected',
  userCreated: 'user.created',
  userUpdated: 'user.updated',
  userDisabled: 'user.disabled',
  userRoleChanged: 'user.role_changed',
  userStoresChanged: 'user.stores_changed',
  apiKeyCreated: 'api_key.created',
  apiKeyRevoked: 'api_key.revoked',
} as const;
export type AuditAction = (typeof AuditActions)[keyof typeof AuditActions];

export interface AuditRecord {
  tenantId: string;
  actor: string;
  action: AuditAction;
  target: string | null;
  ip: string | null;
  details?: Record<string, unknown>;
}

export interface AuditRow {
  id: string;
  actor: string;
  action: string;
  target: string | null;
  ip: string | null;
  details: Record<string, unknown>;
  created_at: Date;
}

/** Call with the transaction of the change recorded: the entry commits or rolls back with it. */
export async function appendAudit(db: Queryable, entries: readonly AuditRecord[]): Promise<void> {
  for (const entry of entries) {
    await db.query(
      `INSERT INTO audit_log (tenant_id, id, actor, action, target, ip, details)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        entry.tenantId,
        newId(),
        entry.actor,
        entry.action,
        entry.target,
        entry.ip,
        JSON.stringify(entry.details ?? {}),
      ],
    );
  }
}

/** Newest first; fetches `limit + 1` rows before `beforeId`. */
export async function listAudit(
  db: Queryable,
  tenantId: string,
  filter: { action: string | undefined; beforeId: string | undefined; limit: number },
): Promise<AuditRow[]> {
  const result = await db.query<AuditRow>(
    `SELECT id, actor, action, target, ip, details, created_at FROM audit_log
      WHERE tenant_id = $1 AND ($2::text IS NULL OR action = $2) AND ($3::uuid IS NULL OR id < $3)
      ORDER BY id DESC LIMIT $4`,
    [tenantId, filter.action ?? null, filter.beforeId ?? null, filter.limit + 1],
  );
  return result.rows;
}
