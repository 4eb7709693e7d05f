import { randomBytes } from 'node:crypto';
import type { Database } from '../../platform/db/database.js';
import { AppError } from '../../platform/http/problem.js';
import type { RequestContext } from '../../platform/http/request-context.js';
import { newId } from '../../platform/ids.js';
import { hashApiKey } from '../../platform/security/api-key.js';
import {
  dummyPasswordHash,
  hashPassword,
  needsRehash,
  verifyPassword,
} from '../../platform/security/password.js';
import { AuditActions, appendAudit } from './audit.repository.js';
import { auditOf } from './audit-context.js';
import { IdentityErrors, invalidCredentials, invalidRefreshToken } from './identity.errors.js';
import { findTenant } from './identity.repository.js';
import type { Login, Register, TokenResponse } from './identity.schemas.js';
import {
  findRefreshTokenForUpdate,
  insertRefreshToken,
  markSpent,
  purgeExpiredRefreshTokens,
  revokeFamily,
} from './refresh-token.repository.js';
import type { TokenService } from './token.service.js';
import {
  findUser,
  findUserByEmail,
  insertUser,
  type UserRow,
  updatePasswordHash,
} from './user.repository.js';

const REFRESH_TOKEN_PREFIX = 'osr_';
const REFRESH_TOKEN_RANDOM_BYTES = 32;

export interface AuthOptions {
  refreshTokenTtlSeconds: number;
}

type RefreshOutcome =
  | { kind: 'rotated'; user: UserRow; tenantId: string; refreshToken: string }
  | { kind: 'refused' };

/**
 * Sign-in for people: self-registration of customers, login, refresh-token rotation with reuse
 * detection, logout. Access tokens are short-lived JWTs; refresh tokens are opaque, single use,
 * stored as SHA-256 (256 random bits make a slow hash pointless), and chained in families.
 */
export class AuthService {
  constructor(
    private readonly database: Database,
    private readonly tokens: TokenService,
    private readonly options: AuthOptions,
  ) {
    // Made now, so the first failed login is not the one slow enough to tell unknown emails apart.
    dummyPasswordHash().catch(() => undefined);
  }

  /** Customers only: the role is not an input, and a customer has no stores to work in. */
  async register(context: RequestContext, input: Register): Promise<TokenResponse> {
    const email = normalizeEmail(input.email);
    const passwordHash = await hashPassword(input.password);
    const user = await this.database.forTenant(input.tenant).transaction(async (tx) => {
      if ((await findTenant(tx, input.tenant)) === undefined) {
        throw new AppError(IdentityErrors.tenantNotFound, `Tenant ${input.tenant} does not exist`);
      }
      const row = await insertUser(tx, input.tenant, {
        id: newId(),
        email,
        passwordHash,
        role: 'customer',
        storeIds: [],
      });
      if (row === undefined)
        throw new AppError(IdentityErrors.emailTaken, 'This email is already registered');
      const audited = { ...context, tenantId: input.tenant };
      await appendAudit(tx, [auditOf(audited, AuditActions.registered, `user:${row.id}`)]);
      return row;
    });
    return this.startSession(context, input.tenant, user);
  }

  /**
   * The same 401, in about the same time, for an unknown tenant or email, a wrong password and a
   * disabled user: unknown emails are verified against a dummy hash.
   */
  async login(context: RequestContext, input: Login): Promise<TokenResponse> {
    const email = normalizeEmail(input.email);
    const tenant = this.database.forTenant(input.tenant);
    const user = await findUserByEmail(tenant, input.tenant, email);
    const valid = await verifyPassword(input.password, user?.password_hash ?? (await dummyPasswordHash()));
    if (user === undefined || !valid || user.disabled_at !== null) {
      // The audit log belongs to a tenant: attempts against an unknown tenant are only logged.
      if ((await findTenant(tenant, input.tenant)) !== undefined) {
        const reason = user === undefined ? 'unknown_email' : valid ? 'disabled' : 'wrong_password';
        await appendAudit(tenant, [
          auditOf({ ...context, tenantId: input.tenant }, AuditActions.loginFailed, `email:${email}`, {
            reason,
          }),
        ]);
      }
      throw invalidCredentials();
    }
    if (needsRehash(user.password_hash)) {
      await updatePasswordHash(tenant, input.tenant, user.id, await hashPassword(input.password));
    }
    return this.startSession(context, input.tenant, user);
  }

  /**
   * Exchanges a refresh token for a new pair. A token presented a second time means two parties
   * hold it: the whole family is revoked (the thief's and the owner's sessions) and the caller
   * gets a 401. The revocation commits before the 401 is answered.
   */
  async refresh(context: RequestContext, refreshToken: string): Promise<TokenResponse> {
    // The token names its tenant only once found: looked up across tenants, by its hash.
    const outcome = await this.database
      .system('refresh-token')
      .transaction(async (tx): Promise<RefreshOutcome> => {
        const row = await findRefreshTokenForUpdate(tx, hashApiKey(refreshToken));
        if (row === undefined || row.revoked_at !== null) return { kind: 'refused' };
        const audited = { ...context, tenantId: row.tenant_id, principal: null };
        if (row.spent_at !== null) {
          await revokeFamily(tx, row.tenant_id, row.family_id);
          await appendAudit(tx, [
            auditOf(audited, AuditActions.refreshReuseDetected, `user:${row.user_id}`, {
              family_id: row.family_id,
            }),
          ]);
          return { kind: 'refused' };
        }
        if (row.expired) return { kind: 'refused' };
        const user = await findUser(tx, row.tenant_id, row.user_id);
        if (user === undefined || user.disabled_at !== null) {
          await revokeFamily(tx, row.tenant_id, row.family_id);
          return { kind: 'refused' };
        }
        await markSpent(tx, row.tenant_id, row.id);
        const next = newRefreshToken();
        await insertRefreshToken(tx, {
          tenantId: row.tenant_id,
          id: newId(),
          familyId: row.family_id,
          userId: user.id,
          hash: hashApiKey(next),
          ttlSeconds: this.options.refreshTokenTtlSeconds,
        });
        return { kind: 'rotated', user, tenantId: row.tenant_id, refreshToken: next };
      });
    if (outcome.kind === 'refused') throw invalidRefreshToken();
    return this.tokenResponse(outcome.tenantId, outcome.user, outcome.refreshToken);
  }

  /** Ends the session the refresh token belongs to. Unknown tokens are ignored: logout always succeeds. */
  async logout(context: RequestContext, refreshToken: string): Promise<void> {
    await this.database.system('refresh-token').transaction(async (tx) => {
      const row = await findRefreshTokenForUpdate(tx, hashApiKey(refreshToken));
      if (row === undefined || row.revoked_at !== null) return;
      await revokeFamily(tx, row.tenant_id, row.family_id);
      await appendAudit(tx, [
        auditOf(
          { ...context, tenantId: row.tenant_id, principal: null },
          AuditActions.logout,
          `user:${row.user_id}`,
        ),
      ]);
    });
  }

  /** Maintenance: refresh tokens a day past expiry can no longer be presented, nor reused. */
  async purgeExpiredRefreshTokens(batchSizeMax: number): Promise<number> {
    return purgeExpiredRefreshTokens(this.database.system('maintenance'), batchSizeMax);
  }

  private async startSession(
    context: RequestContext,
    tenantId: string,
    user: UserRow,
  ): Promise<TokenResponse> {
    const refreshToken = newRefreshToken();
    await this.database.forTenant(tenantId).transaction(async (tx) => {
      await insertRefreshToken(tx, {
        tenantId,
        id: newId(),
        familyId: newId(),
        userId: user.id,
        hash: hashApiKey(refreshToken),
        ttlSeconds: this.options.refreshTokenTtlSeconds,
      });
      const entry = auditOf({ ...context, tenantId }, AuditActions.login, `user:${user.id}`);
      await appendAudit(tx, [{ ...entry, actor: `user:${user.id}` }]);
    });
    return this.tokenResponse(tenantId, user, refreshToken);
  }

  private async tokenResponse(tenantId: string, user: UserRow, refreshToken: string): Promise<TokenResponse> {
    const accessToken = await this.tokens.issue({
      tenantId,
      userId: user.id,
      role: user.role,
      storeIds: user.store_ids,
    });
    return {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: this.tokens.accessTokenTtlSeconds,
      refresh_token: refreshToken,
    };
  }
}

function newRefreshToken(): string {
  return `${REFRESH_TOKEN_PREFIX}${randomBytes(REFRESH_TOKEN_RANDOM_BYTES).toString('base64url')}`;
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}
