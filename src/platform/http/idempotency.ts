import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Database, Queryable } from '../db/database.js';
import { isSealed, SEALED_PREFIX, type SecretBox } from '../security/secret-box.js';
import { headerValue } from './auth.js';
import { AppError, HttpErrors } from './problem.js';
import { routeOf } from './route-of.js';

const IDEMPOTENCY_HEADER = 'idempotency-key';
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
/** Headers worth replaying: the ones a client may act on. */
const REPLAYED_HEADERS = ['content-type', 'etag', 'location'] as const;

export interface IdempotencyOptions {
  /** Each record is read and written bound to the request's tenant. */
  database: Database;
  /** How long a completed response is replayed (the contract says at least 24 h). */
  retentionSeconds: number;
  /** How long an in-flight claim holds before another request may take over a crashed one. */
  claimTimeoutSeconds: number;
  /**
   * Seals every stored response body: some carry a secret shown once (a new webhook's signing
   * secret), and a replay record must not keep in clear what the resource's own table does not.
   */
  secretBox: SecretBox;
}

/** Rows one resealing pass reads; the pass repeats until none is left. */
const RESEAL_BATCH_SIZE_MAX = 500;

/** Where a stored response lives, bound into its ciphertext. */
function responseContext(claim: Claim): string {
  return `idempotency_keys/${claim.tenantId}/${claim.key}`;
}

interface Claim {
  tenantId: string;
  key: string;
}

interface StoredKey {
  request_fingerprint: string;
  state: 'IN_FLIGHT' | 'COMPLETED';
  response_status: number | null;
  response_headers: Record<string, string> | null;
  response_body: string | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    idempotencyClaim: Claim | null;
  }
}

/**
 * `Idempotency-Key` on state-changing POSTs: the same key with the same request replays the first
 * response (`Idempotent-Replayed: true`); with another request it is a 422; while the first is still
 * running it is a 409. Keys are per tenant. Responses of 5xx are not kept, so a retry runs again.
 */
export function registerIdempotency(server: FastifyInstance, options: IdempotencyOptions): void {
  server.decorateRequest('idempotencyClaim', null);

  const claimKey = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (request.method !== 'POST') return;
    const key = headerValue(request, IDEMPOTENCY_HEADER);
    if (key === undefined) return;
    if (!IDEMPOTENCY_KEY.test(key)) {
      throw new AppError(HttpErrors.badRequest, 'Idempotency-Key must be 1 to 255 visible ASCII characters');
    }
    const claim: Claim = { tenantId: request.context.tenantId, key };
    const fingerprint = fingerprintOf(request);
    // Two tries: the row we collided with may expire or be released between the claim and the read.
    for (let attempt = 0; attempt < 2; attempt += 1) {
      if (await tryClaim(options, claim, fingerprint)) {
        request.idempotencyClaim = claim;
        return;
      }
      const stored = await readKey(options.database.forTenant(claim.tenantId), claim);
      if (stored === undefined) continue;
      if (stored.request_fingerprint !== fingerprint) {
        throw new AppError(
          HttpErrors.idempotencyKeyReused,
          'This Idempotency-Key was sent with another request',
        );
      }
      if (stored.state === 'IN_FLIGHT') {
        throw new AppError(
          HttpErrors.idempotencyInProgress,
          'The first request with this key has not finished',
          {},
          {
            'retry-after': '1',
          },
        );
      }
      return replay(reply, stored, options.secretBox, claim);
    }
    throw new AppError(
      HttpErrors.idempotencyInProgress,
      'The Idempotency-Key is changing hands; retry',
      {},
      {
        'retry-after': '1',
      },
    );
  };

  const settleKey = async (
    request: FastifyRequest,
    reply: FastifyReply,
    payload: unknown,
  ): Promise<unknown> => {
    const claim = request.idempotencyClaim;
    if (claim === null) return payload;
    request.idempotencyClaim = null;
    if (reply.statusCode >= 500 || typeof payload !== 'string') {
      await options.database
        .forTenant(claim.tenantId)
        .query('DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2', [claim.tenantId, claim.key]);
      return payload;
    }
    const headers: Record<string, string> = {};
    for (const name of REPLAYED_HEADERS) {
      const value = reply.getHeader(name);
      if (value !== undefined) headers[name] = String(value);
    }
    await options.database.forTenant(claim.tenantId).query(
      `UPDATE idempotency_keys
          SET state = 'COMPLETED', response_status = $3, response_headers = $4, response_body = $5
        WHERE tenant_id = $1 AND key = $2`,
      [
        claim.tenantId,
        claim.key,
        reply.statusCode,
        JSON.stringify(headers),
        options.secretBox.seal(payload, responseContext(claim)),
      ],
    );
    return payload;
  };

  // Only POST routes carry the hooks: every other request would pay two hook calls for nothing.
  server.addHook('onRoute', (route) => {
    if (![route.method].flat().includes('POST')) return;
    route.preHandler = [claimKey, ...[route.preHandler ?? []].flat()];
    route.onSend = [settleKey, ...[route.onSend ?? []].flat()];
  });
}

function fingerprintOf(request: FastifyRequest): string {
  return createHash('sha256')
    .update(`${request.method} ${routeOf(request).url ?? request.url}\n`)
    .update(`${JSON.stringify(request.params ?? {})}\n`)
    .update(JSON.stringify(request.body ?? null))
    .digest('hex');
}

async function tryClaim(options: IdempotencyOptions, claim: Claim, fingerprint: string): Promise<boolean> {
  const result = await options.database.forTenant(claim.tenantId).query(
    `INSERT INTO idempotency_keys AS held (tenant_id, key, request_fingerprint, state, locked_until, expires_at)
     VALUES ($1, $2, $3, 'IN_FLIGHT', now() + make_interval(secs => $4), now() + make_interval(secs => $5))
     ON CONFLICT (tenant_id, key) DO UPDATE
        SET request_fingerprint = EXCLUDED.request_fingerprint, state = 'IN_FLIGHT',
            response_status = NULL, response_headers = NULL, response_body = NULL,
            locked_until = EXCLUDED.locked_until, expires_at = EXCLUDED.expires_at, created_at = now()
      WHERE held.expires_at < now()
         OR (held.state = 'IN_FLIGHT' AND held.locked_until < now()
             AND held.request_fingerprint = EXCLUDED.request_fingerprint)
     RETURNING 1`,
    [claim.tenantId, claim.key, fingerprint, options.claimTimeoutSeconds, options.retentionSeconds],
  );
  return result.rowCount === 1;
}

async function readKey(database: Queryable, claim: Claim): Promise<StoredKey | undefined> {
  const result = await database.query<StoredKey>(
    `SELECT request_fingerprint, state, response_status, response_headers, response_body
       FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND expires_at >= now()`,
    [claim.tenantId, claim.key],
  );
  return result.rows[0];
}

function replay(reply: FastifyReply, stored: StoredKey, box: SecretBox, claim: Claim): FastifyReply {
  const body = stored.response_body ?? '';
  reply.code(stored.response_status ?? 200);
  for (const [name, value] of Object.entries(stored.response_headers ?? {})) reply.header(name, value);
  reply.header('idempotent-replayed', 'true');
  // A body in clear was stored before responses were sealed; the startup resealing converts those.
  return reply.send(isSealed(body) ? box.open(body, responseContext(claim)) : body);
}

/**
 * Rewrites stored responses not sealed under the current key (after a key rotation, and once for
 * bodies stored in clear before sealing). Safe on several instances at once. Returns rows rewritten.
 */
export async function resealIdempotencyResponses(database: Database, box: SecretBox): Promise<number> {
  const currentPrefix = `${SEALED_PREFIX}${box.currentKeyId}:`;
  let resealed = 0;
  for (;;) {
    const batch = await database.system('secret-rotation').transaction(async (tx) => {
      const stale = await tx.query<{ tenant_id: string; key: string; response_body: string }>(
        `SELECT tenant_id, key, response_body FROM idempotency_keys
          WHERE response_body IS NOT NULL AND left(response_body, length($1)) <> $1
          ORDER BY tenant_id, key LIMIT $2`,
        [currentPrefix, RESEAL_BATCH_SIZE_MAX],
      );
      for (const row of stale.rows) {
        const claim = { tenantId: row.tenant_id, key: row.key };
        const updated = await tx.query(
          `UPDATE idempotency_keys SET response_body = $4
            WHERE tenant_id = $1 AND key = $2 AND response_body = $3`,
          [row.tenant_id, row.key, row.response_body, box.reseal(row.response_body, responseContext(claim))],
        );
        resealed += updated.rowCount;
      }
      return stale.rows.length;
    });
    if (batch < RESEAL_BATCH_SIZE_MAX) return resealed;
  }
}

/** Deletes replay records past their retention; run periodically by the maintenance loop. */
export async function purgeExpiredIdempotencyKeys(database: Queryable): Promise<number> {
  const result = await database.query('DELETE FROM idempotency_keys WHERE expires_at < now()');
  return result.rowCount;
}
