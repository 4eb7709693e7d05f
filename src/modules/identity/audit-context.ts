import { actorOf, type RequestContext } from '../../platform/http/request-context.js';
import type { AuditAction, AuditRecord } from './audit.repository.js';

/** An audit entry for an action taken by the caller of this request. */
export function auditOf(
  context: RequestContext,
  action: AuditAction,
  target: string | null,
  details?: Record<string, unknown>,
): AuditRecord {
  return {
    tenantId: context.tenantId,
    actor: actorOf(context),
    action,
    target,
    ip: context.clientIp ?? null,
    ...(details === undefined ? {} : { details }),
  };
}
