import { LruCacheStore } from '../../platform/cache/lru-cache-store.js';
import { ReadThroughCache } from '../../platform/cache/read-through-cache.js';
import type { Database } from '../../platform/db/database.js';
import type { Authenticator, Identity } from '../../platform/http/request-context.js';
import { newId } from '../../platform/ids.js';
import { displayPrefixOf, generateApiKey, hashApiKey } from '../../platform/security/api-key.js';
import {
  findActiveApiKeyByHash,
  insertApiKeyIfAbsent,
  insertTenantIfAbsent,
  revokeOtherKeysNamed,
  touchApiKey,
} from './identity.repository.js';
import type { TokenService } from './token.service.js';
import { findUser } from './user.repository.js';

const CONFIGURED_ADMIN_KEY_NAME = 'admin (OMNISTOCK_ADMIN_API_KEY)';
/**
 * How long a verified key, or a token's user, is trusted without asking the database again: the
 * bound on how long a revoked key, a disabled user or a changed role lives on another instance.
 * On the instance that made the change it is forgotten at once.
 */
export const API_KEY_CACHE_TTL_MS = 5_000;
/** Trusted for the TTL, never past it: a revoked key is not served stale, whatever the database does. */
const IDENTITY_CACHE_OPTIONS = {
  ttlSeconds: API_KEY_CACHE_TTL_MS / 1000,
  staleIfErrorSeconds: 0,
  serveStaleOn: () => false,
};
/** A JWT is three base64url parts; an API key never contains a dot. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export interface BootstrapResult {
  tenantCreated: boolean;
  /** A key generated on this start: shown once, never stored in clear. */
  generatedAdminKey: string | undefined;
}

/**
 * Resolves credentials to principals: API keys (machines) and access tokens (users), and
 * bootstraps the default tenant. The other identity services call `forget…` after a change so
 * that this instance stops trusting a revoked key or a changed user at once.
 */
export class IdentityService implements Authenticator {
  /**
   * Verified keys by hash. When one expires under load, one lookup renews it for every request in
   * flight; an unknown key is not remembered, so a key created a moment ago works at once.
   */
  readonly #verified = new ReadThroughCache(new LruCacheStore(), IDENTITY_CACHE_OPTIONS);
  /** Users behind verified tokens, by `tenant/user`: a disabled user is refused within the TTL. */
  readonly #users = new ReadThroughCache(new LruCacheStore(), IDENTITY_CACHE_OPTIONS);

  constructor(
    private readonly database: Database,
    private readonly tokens: TokenService,
    /** Told when recording a key's last use failed: no request waits for, or fails with, that write. */
    private readonly onTouchFailed: (error: unknown) => void = () => {},
  ) {}

  /**
   * Makes sure the tenant exists and has an admin key. A key given by the operator is registered
   * (idempotently) on every start and replaces the one it gave before, which is revoked: changing
   * OMNISTOCK_ADMIN_API_KEY rotates it. Without one, a key is generated only when the tenant is created.
   */
  async bootstrapTenant(
    tenantId: string,
    tenantName: string,
    configuredAdminKey: string | undefined,
  ): Promise<BootstrapResult> {
    return this.database.forTenant(tenantId).transaction(async (tx) => {
      const tenantCreated = await insertTenantIfAbsent(tx, tenantId, tenantName);
      const adminKey = configuredAdminKey ?? (tenantCreated ? generateApiKey() : undefined);
      if (adminKey !== undefined) {
        const hash = hashApiKey(adminKey);
        const name = configuredAdminKey ? CONFIGURED_ADMIN_KEY_NAME : 'admin (generated at first start)';
        await insertApiKeyIfAbsent(tx, {
          tenantId,
          id: newId(),
          name,
          hash,
          prefix: displayPrefixOf(adminKey),
          role: 'admin',
        });
        if (configuredAdminKey) await revokeOtherKeysNamed(tx, tenantId, CONFIGURED_ADMIN_KEY_NAME, hash);
      }
      return { tenantCreated, generatedAdminKey: configuredAdminKey ? undefined : adminKey };
    });
  }

  /**
   * An API key verified within API_KEY_CACHE_TTL_MS, answered at once; undefined for a key this
   * instance does not hold and for a token, whose signature is checked on every request.
   */
  recognise(credential: string): Identity | undefined {
    if (JWT_SHAPE.test(credential)) return undefined;
    return this.#verified.peek<Identity>(hashApiKey(credential));
  }

  /**
   * Resolves an API key. Verified keys are remembered for API_KEY_CACHE_TTL_MS, so a busy client costs
   * no database round trip per request; a revoked key is therefore refused within that time on every
   * instance. Unknown keys are never remembered: a key created a moment ago works at once.
   */
  async authenticate(credential: string): Promise<Identity | null> {
    if (JWT_SHAPE.test(credential)) return this.authenticateToken(credential);
    const hash = hashApiKey(credential);
    const identity = await this.#verified.get(hash, async (): Promise<Identity | undefined> => {
      // Lookup by hash: an indexed equality on a digest, so timing reveals nothing about the key.
      // The tenant is what the key tells us, so this one lookup spans tenants (ADR 0017).
      const row = await findActiveApiKeyByHash(this.database.system('api-key-authentication'), hash);
      if (row === undefined) return undefined;
      // Last use at minute granularity: renewed at most every TTL, written at most every minute.
      // Written beside the request, not before its answer: a commit's flush is no part of reading.
      touchApiKey(this.database.forTenant(row.tenant_id), row.tenant_id, row.id).catch(this.onTouchFailed);
      return {
        tenantId: row.tenant_id,
        principal: {
          kind: 'api_key' as const,
          id: row.id,
          name: row.name,
          role: row.role,
          storeIds: row.store_ids,
        },
      };
    });
    return identity ?? null;
  }

  /**
   * Resolves an access token. The signature proves who the user was when it was issued; the role,
   * stores and disabled flag come from the user row (cached for API_KEY_CACHE_TTL_MS), so a change
   * applies within seconds rather than at the token's expiry.
   */
  private async authenticateToken(token: string): Promise<Identity | null> {
    const verified = await this.tokens.verify(token);
    if (verified === null) return null;
    const identity = await this.#users.get(
      `${verified.tenantId}/${verified.userId}`,
      async (): Promise<Identity | undefined> => {
        const row = await findUser(
          this.database.forTenant(verified.tenantId),
          verified.tenantId,
          verified.userId,
        );
        if (row === undefined || row.disabled_at !== null) return undefined;
        return {
          tenantId: verified.tenantId,
          principal: { kind: 'user', id: row.id, name: row.email, role: row.role, storeIds: row.store_ids },
        };
      },
    );
    return identity ?? null;
  }

  /** After a key is revoked: this instance refuses it from now on. */
  async forgetApiKey(hash: string): Promise<void> {
    await this.#verified.invalidate([hash]);
  }

  /** After a user changed or was disabled: this instance reads the row again on the next request. */
  async forgetUser(tenantId: string, userId: string): Promise<void> {
    await this.#users.invalidate([`${tenantId}/${userId}`]);
  }
}
