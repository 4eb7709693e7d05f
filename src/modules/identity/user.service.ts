import type { Database } from '../../platform/db/database.js';
import { AppError } from '../../platform/http/problem.js';
import type { RequestContext, Role } from '../../platform/http/request-context.js';
import { newId } from '../../platform/ids.js';
import { hashPassword } from '../../platform/security/password.js';
import { AuditActions, type AuditRecord, appendAudit } from './audit.repository.js';
import { auditOf } from './audit-context.js';
import { normalizeEmail } from './auth.service.js';
import { IdentityErrors, userNotFound } from './identity.errors.js';
import type { User, UserCreate, UserUpdate } from './identity.schemas.js';
import type { IdentityService } from './identity.service.js';
import { revokeTokensOfUser } from './refresh-token.repository.js';
import { findUser, insertUser, listUsers, type UserRow, updateUser } from './user.repository.js';

export function toUser(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    role: row.role,
    store_ids: row.store_ids,
    disabled: row.disabled_at !== null,
    version: row.version,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/**
 * Admins work in every store and customers in none, whatever is asked; managers and vendors get
 * the list they are given, or every store when it is null or left out.
 */
export function storeIdsFor(role: Role, requested: readonly string[] | null | undefined): string[] | null {
  if (role === 'admin') return null;
  if (role === 'customer') return [];
  return requested === undefined || requested === null ? null : [...requested];
}

/** User administration within the caller's tenant. The routes let administrators only. */
export class UserService {
  constructor(
    private readonly database: Database,
    private readonly identity: IdentityService,
  ) {}

  /** A first admin for a new tenant, inside the operator's transaction. */
  static async newUserFields(email: string, password: string) {
    return { id: newId(), email: normalizeEmail(email), passwordHash: await hashPassword(password) };
  }

  async create(context: RequestContext, input: UserCreate): Promise<User> {
    const fields = await UserService.newUserFields(input.email, input.password);
    const storeIds = storeIdsFor(input.role, input.store_ids);
    return this.database.forTenant(context.tenantId).transaction(async (tx) => {
      const row = await insertUser(tx, context.tenantId, { ...fields, role: input.role, storeIds });
      if (row === undefined)
        throw new AppError(IdentityErrors.emailTaken, 'This email is already registered');
      await appendAudit(tx, [
        auditOf(context, AuditActions.userCreated, `user:${row.id}`, {
          role: row.role,
          store_ids: row.store_ids,
        }),
      ]);
      return toUser(row);
    });
  }

  async get(tenantId: string, userId: string): Promise<User> {
    const row = await findUser(this.database.forTenant(tenantId), tenantId, userId);
    if (row === undefined) throw userNotFound(userId);
    return toUser(row);
  }

  async list(tenantId: string, afterId: string | undefined, limit: number): Promise<UserRow[]> {
    return listUsers(this.database.forTenant(tenantId), tenantId, afterId, limit);
  }

  /**
   * Changes role, stores or the disabled flag. Nobody changes their own access (no self-promotion,
   * and an admin cannot lock the tenant out by demoting or disabling themself). Disabling revokes
   * every refresh token of the user in the same transaction.
   */
  async update(context: RequestContext, userId: string, input: UserUpdate): Promise<User> {
    if (context.principal?.kind === 'user' && context.principal.id === userId) {
      throw new AppError(IdentityErrors.ownAccount, 'You cannot change your own role, stores or status');
    }
    const updated = await this.database.forTenant(context.tenantId).transaction(async (tx) => {
      const before = await findUser(tx, context.tenantId, userId, { forUpdate: true });
      if (before === undefined) throw userNotFound(userId);
      const role = input.role ?? before.role;
      const storeIds = storeIdsFor(role, input.store_ids === undefined ? before.store_ids : input.store_ids);
      const disabled = input.disabled ?? before.disabled_at !== null;
      const row = await updateUser(tx, context.tenantId, userId, { role, storeIds, disabled });
      if (row === undefined) throw userNotFound(userId);
      const target = `user:${userId}`;
      const entries: AuditRecord[] = [];
      if (row.role !== before.role) {
        entries.push(
          auditOf(context, AuditActions.userRoleChanged, target, { from: before.role, to: row.role }),
        );
      }
      if (JSON.stringify(row.store_ids) !== JSON.stringify(before.store_ids)) {
        entries.push(
          auditOf(context, AuditActions.userStoresChanged, target, {
            from: before.store_ids,
            to: row.store_ids,
          }),
        );
      }
      if (disabled && before.disabled_at === null) {
        await revokeTokensOfUser(tx, context.tenantId, userId);
        entries.push(auditOf(context, AuditActions.userDisabled, target));
      }
      if (entries.length === 0)
        entries.push(auditOf(context, AuditActions.userUpdated, target, { disabled }));
      await appendAudit(tx, entries);
      tx.afterCommit(() => void this.identity.forgetUser(context.tenantId, userId));
      return row;
    });
    return toUser(updated);
  }
}
