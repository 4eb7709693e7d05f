import type { Database } from '../../platform/db/database.js';
import type { RequestContext } from '../../platform/http/request-context.js';
import { newId } from '../../platform/ids.js';
import { displayPrefixOf, generateApiKey, hashApiKey } from '../../platform/security/api-key.js';
import { AuditActions, appendAudit } from './audit.repository.js';
import { auditOf } from './audit-context.js';
import { apiKeyNotFound } from './identity.errors.js';
import { type ApiKeyListRow, insertApiKey, listApiKeys, revokeApiKey } from './identity.repository.js';
import type { ApiKey, ApiKeyCreate } from './identity.schemas.js';
import type { IdentityService } from './identity.service.js';
import { storeIdsFor } from './user.service.js';

export function toApiKey(row: ApiKeyListRow): ApiKey {
  return {
    id: row.id,
    name: row.name,
    prefix: row.key_prefix,
    role: row.role,
    store_ids: row.store_ids,
    created_at: row.created_at.toISOString(),
    last_used_at: row.last_used_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
  };
}

/** API keys for machines (POS, integrations): created, listed without the key, revoked. */
export class ApiKeyService {
  constructor(
    private readonly database: Database,
    private readonly identity: IdentityService,
  ) {}

  /** The key is in this answer only: the database keeps its SHA-256. */
  async create(context: RequestContext, input: ApiKeyCreate): Promise<ApiKey & { key: string }> {
    const key = generateApiKey();
    return this.database.forTenant(context.tenantId).transaction(async (tx) => {
      const row = await insertApiKey(tx, {
        tenantId: context.tenantId,
        id: newId(),
        name: input.name,
        hash: hashApiKey(key),
        prefix: displayPrefixOf(key),
        role: input.role,
        storeIds: storeIdsFor(input.role, input.store_ids),
      });
      await appendAudit(tx, [
        auditOf(context, AuditActions.apiKeyCreated, `api_key:${row.id}`, {
          role: row.role,
          store_ids: row.store_ids,
        }),
      ]);
      return { ...toApiKey(row), key };
    });
  }

  async list(tenantId: string, afterId: string | undefined, limit: number): Promise<ApiKeyListRow[]> {
    return listApiKeys(this.database.forTenant(tenantId), tenantId, afterId, limit);
  }

  /**
   * Refused at once on this instance; other instances forget it within API_KEY_CACHE_TTL_MS
   * (5 s), the lifetime of their authentication cache.
   */
  async revoke(context: RequestContext, keyId: string): Promise<void> {
    await this.database.forTenant(context.tenantId).transaction(async (tx) => {
      const row = await revokeApiKey(tx, context.tenantId, keyId);
      if (row === undefined) throw apiKeyNotFound(keyId);
      await appendAudit(tx, [auditOf(context, AuditActions.apiKeyRevoked, `api_key:${row.id}`)]);
      tx.afterCommit(() => void this.identity.forgetApiKey(row.key_hash));
    });
  }
}
