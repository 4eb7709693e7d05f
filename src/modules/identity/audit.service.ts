import type { Database } from '../../platform/db/database.js';
import { type AuditRow, listAudit } from './audit.repository.js';
import type { AuditEntry } from './identity.schemas.js';

export function toAuditEntry(row: AuditRow): AuditEntry {
  return {
    id: row.id,
    actor: row.actor,
    action: row.action,
    target: row.target,
    ip: row.ip,
    details: row.details,
    created_at: row.created_at.toISOString(),
  };
}

/** Reads the audit log; entries are written by the services whose changes they record. */
export class AuditService {
  constructor(private readonly database: Database) {}

  async list(
    tenantId: string,
    filter: { action: string | undefined; beforeId: string | undefined; limit: number },
  ): Promise<AuditRow[]> {
    return listAudit(this.database.forTenant(tenantId), tenantId, filter);
  }
}
