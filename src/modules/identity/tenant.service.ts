import type { Database } from '../../platform/db/database.js';
import { AppError } from '../../platform/http/problem.js';
import type { RequestContext } from '../../platform/http/request-context.js';
import { AuditActions, appendAudit } from './audit.repository.js';
import { auditOf } from './audit-context.js';
import { IdentityErrors } from './identity.errors.js';
import { findTenant, insertTenant, type TenantRow } from './identity.repository.js';
import type { Tenant, TenantCreate } from './identity.schemas.js';
import { insertUser } from './user.repository.js';
import { UserService } from './user.service.js';

export const OPERATOR_ACTOR = 'operator';

function toTenant(row: TenantRow): Tenant {
  return { id: row.id, name: row.name, created_at: row.created_at.toISOString() };
}

/** Tenants, created by the platform operator together with their first administrator. */
export class TenantService {
  constructor(private readonly database: Database) {}

  async create(
    context: RequestContext,
    input: TenantCreate,
  ): Promise<{ tenant: Tenant; admin_user_id: string }> {
    const admin = await UserService.newUserFields(input.admin_email, input.admin_password);
    // Bound to the tenant being made: the policy on `tenants` accepts exactly that row.
    return this.database.forTenant(input.id).transaction(async (tx) => {
      const tenant = await insertTenant(tx, input.id, input.name);
      if (tenant === undefined) {
        throw new AppError(IdentityErrors.tenantExists, `Tenant ${input.id} already exists`, {
          tenant_id: input.id,
        });
      }
      const user = await insertUser(tx, tenant.id, { ...admin, role: 'admin', storeIds: null });
      if (user === undefined) throw new Error('a new tenant cannot have a user already');
      const operator = { ...context, tenantId: tenant.id };
      await appendAudit(tx, [
        { ...auditOf(operator, AuditActions.tenantCreated, `tenant:${tenant.id}`), actor: OPERATOR_ACTOR },
        {
          ...auditOf(operator, AuditActions.userCreated, `user:${user.id}`, {
            role: 'admin',
            store_ids: null,
          }),
          actor: OPERATOR_ACTOR,
        },
      ]);
      return { tenant: toTenant(tenant), admin_user_id: user.id };
    });
  }

  async get(tenantId: string): Promise<Tenant> {
    const row = await findTenant(this.database.forTenant(tenantId), tenantId);
    if (row === undefined) {
      throw new AppError(IdentityErrors.tenantNotFound, `Tenant ${tenantId} does not exist`, {
        tenant_id: tenantId,
      });
    }
    return toTenant(row);
  }
}
