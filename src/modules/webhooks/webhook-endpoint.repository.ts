import type { Queryable } from '../../platform/db/database.js';

export interface EndpointRow {
  id: string;
  url: string;
  description: string | null;
  event_types: string[];
  store_ids: string[] | null;
  enabled: boolean;
  version: number;
  consecutive_failures: number;
  circuit_open_until: Date | null;
  created_at: Date;
  updated_at: Date;
}

export type EndpointFields = Pick<
  EndpointRow,
  'url' | 'description' | 'event_types' | 'store_ids' | 'enabled'
>;

const ENDPOINT_COLUMNS = `id, url, description, event_types, store_ids, enabled, version,
  consecutive_failures, circuit_open_until, created_at, updated_at`;
/** Namespace of the per-tenant advisory lock that serialises endpoint creation (the count limit). */
const ENDPOINT_CREATION_LOCK_NAMESPACE = 7_340_213;

export async function lockEndpointCreation(tx: Queryable, tenantId: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [
    ENDPOINT_CREATION_LOCK_NAMESPACE,
    tenantId,
  ]);
}

export async function countEndpoints(db: Queryable, tenantId: string): Promise<number> {
  const result = await db.query<{ count: number }>(
    'SELECT count(*)::int AS count FROM webhook_endpoints WHERE tenant_id = $1',
    [tenantId],
  );
  return result.rows[0]?.count ?? 0;
}

export async function insertEndpoint(
  db: Queryable,
  tenantId: string,
  id: string,
  fields: EndpointFields,
): Promise<EndpointRow> {
  const result = await db.query<EndpointRow>(
    `INSERT INTO webhook_endpoints (tenant_id, id, url, description, event_types, store_ids, enabled)
     VALUES ($1, $2, $3, $4, $5::text[], $6::text[], $7) RETURNING ${ENDPOINT_COLUMNS}`,
    [tenantId, id, fields.url, fields.description, fields.event_types, fields.store_ids, fields.enabled],
  );
  return result.rows[0] as EndpointRow;
}

export async function findEndpoint(
  db: Queryable,
  tenantId: string,
  id: string,
  lock: 'none' | 'update' = 'none',
): Promise<EndpointRow | undefined> {
  const result = await db.query<EndpointRow>(
    `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2${
      lock === 'update' ? ' FOR NO KEY UPDATE' : ''
    }`,
    [tenantId, id],
  );
  return result.rows[0];
}

/** Fetches `limit + 1` rows after `afterId` so the caller knows whether another page exists. */
export async function listEndpoints(
  db: Queryable,
  tenantId: string,
  afterId: string | undefined,
  limit: number,
): Promise<EndpointRow[]> {
  const result = await db.query<EndpointRow>(
    `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints
      WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3`,
    [tenantId, afterId ?? null, limit + 1],
  );
  return result.rows;
}

/** Every enabled endpoint of a tenant, whatever it subscribes to. */
export async function findEnabledEndpoints(db: Queryable, tenantId: string): Promise<EndpointRow[]> {
  const result = await db.query<EndpointRow>(
    `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND enabled`,
    [tenantId],
  );
  return result.rows;
}

/** Enabled endpoints of a tenant subscribed to `eventType` (or `*`); the store filter is applied by the caller. */
export async function findSubscribedEndpoints(
  db: Queryable,
  tenantId: string,
  eventType: string,
): Promise<EndpointRow[]> {
  const result = await db.query<EndpointRow>(
    `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints
      WHERE tenant_id = $1 AND enabled AND ($2 = ANY(event_types) OR '*' = ANY(event_types))`,
    [tenantId, eventType],
  );
  return result.rows;
}

export async function updateEndpoint(
  db: Queryable,
  tenantId: string,
  id: string,
  fields: EndpointFields,
): Promise<EndpointRow> {
  const result = await db.query<EndpointRow>(
    `UPDATE webhook_endpoints
        SET url = $3, description = $4, event_types = $5::text[], store_ids = $6::text[], enabled = $7,
            version = version + 1, updated_at = now()
      WHERE tenant_id = $1 AND id = $2 RETURNING ${ENDPOINT_COLUMNS}`,
    [tenantId, id, fields.url, fields.description, fields.event_types, fields.store_ids, fields.enabled],
  );
  return result.rows[0] as EndpointRow;
}

/** Deletes the endpoint with its secrets and deliveries (ON DELETE CASCADE). */
export async function deleteEndpoint(db: Queryable, tenantId: string, id: string): Promise<boolean> {
  const result = await db.query('DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2', [
    tenantId,
    id,
  ]);
  return result.rowCount === 1;
}

export async function insertSecret(
  db: Queryable,
  tenantId: string,
  endpointId: string,
  id: string,
  secret: string,
): Promise<void> {
  await db.query('INSERT INTO webhook_secrets (tenant_id, endpoint_id, id, secret) VALUES ($1, $2, $3, $4)', [
    tenantId,
    endpointId,
    id,
    secret,
  ]);
}

/**
 * Retires the current secret: it keeps signing for `overlapSeconds`, beside the one the caller
 * inserts next. Secrets already past their overlap are deleted on the way.
 */
export async function retireCurrentSecret(
  db: Queryable,
  tenantId: string,
  endpointId: string,
  overlapSeconds: number,
): Promise<void> {
  await db.query(
    'DELETE FROM webhook_secrets WHERE tenant_id = $1 AND endpoint_id = $2 AND expires_at <= now()',
    [tenantId, endpointId],
  );
  await db.query(
    `UPDATE webhook_secrets SET expires_at = now() + make_interval(secs => $3)
      WHERE tenant_id = $1 AND endpoint_id = $2 AND expires_at IS NULL`,
    [tenantId, endpointId, overlapSeconds],
  );
}

export interface StoredSecret {
  tenant_id: string;
  endpoint_id: string;
  id: string;
  secret: string;
}

/** Secrets not yet sealed under `currentPrefix` (older keys, or clear from before encryption at rest). */
export async function listSecretsToReseal(
  db: Queryable,
  currentPrefix: string,
  limit: number,
): Promise<StoredSecret[]> {
  const result = await db.query<StoredSecret>(
    `SELECT tenant_id, endpoint_id, id, secret FROM webhook_secrets
      WHERE left(secret, length($1)) <> $1 ORDER BY tenant_id, endpoint_id, id LIMIT $2`,
    [currentPrefix, limit],
  );
  return result.rows;
}

/** Swaps one stored value for another, only if it is still the one read (another instance may be resealing too). */
export async function replaceSecretValue(
  db: Queryable,
  stored: StoredSecret,
  value: string,
): Promise<boolean> {
  const result = await db.query(
    `UPDATE webhook_secrets SET secret = $5
      WHERE tenant_id = $1 AND endpoint_id = $2 AND id = $3 AND secret = $4`,
    [stored.tenant_id, stored.endpoint_id, stored.id, stored.secret, value],
  );
  return result.rowCount === 1;
}

/** Endpoints of every tenant whose circuit is open now (metrics: one bounded number). */
export async function countOpenCircuits(db: Queryable): Promise<number> {
  const result = await db.query<{ open: number }>(
    'SELECT count(*)::int AS open FROM webhook_endpoints WHERE circuit_open_until > now()',
  );
  return result.rows[0]?.open ?? 0;
}
