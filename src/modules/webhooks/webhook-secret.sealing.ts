import type { Database } from '../../platform/db/database.js';
import { SEALED_PREFIX, type SecretBox } from '../../platform/security/secret-box.js';
import { listSecretsToReseal, replaceSecretValue } from './webhook-endpoint.repository.js';

/** Rows one resealing pass reads; the pass repeats until none is left. */
const RESEAL_BATCH_SIZE_MAX = 500;

/**
 * Where a signing secret is stored, bound into its ciphertext: a sealed secret copied to another
 * endpoint or tenant does not open there.
 */
export function webhookSecretContext(tenantId: string, endpointId: string): string {
  return `webhook_secrets/${tenantId}/${endpointId}`;
}

/**
 * Rewrites every signing secret not sealed under the current key: after a key rotation, and once
 * for secrets stored in clear before encryption at rest. Safe to run on several instances at once
 * (each row is swapped only if unchanged). Returns how many rows it rewrote.
 */
export async function resealWebhookSecrets(database: Database, box: SecretBox): Promise<number> {
  const currentPrefix = `${SEALED_PREFIX}${box.currentKeyId}:`;
  let resealed = 0;
  for (;;) {
    const batch = await database.system('secret-rotation').transaction(async (tx) => {
      const stale = await listSecretsToReseal(tx, currentPrefix, RESEAL_BATCH_SIZE_MAX);
      for (const stored of stale) {
        const value = box.reseal(stored.secret, webhookSecretContext(stored.tenant_id, stored.endpoint_id));
        if (await replaceSecretValue(tx, stored, value)) resealed += 1;
      }
      return stale.length;
    });
    if (batch < RESEAL_BATCH_SIZE_MAX) return resealed;
  }
}
