import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError, HttpErrors } from './problem.js';
import type { Authenticator, RequestContext } from './request-context.js';

const TENANT_HEADER = 'x-tenant-id';
const TENANT_ID = /^[a-z0-9][a-z0-9-]{1,49}$/;
const CREDENTIAL_LENGTH_MAX = 512;
const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface AuthOptions {
  authenticator: Authenticator;
  /** Tenant of anonymous reads that do not name one with `X-Tenant-Id`. */
  defaultTenantId: string;
}

/**
 * Builds `request.context` for every route. Credentials come as `X-API-Key: <key>` or
 * `Authorization: Bearer <key>`. Routes are authenticated unless they declare `access: 'public'`:
 * a route someone forgot to classify fails closed.
 */
export function registerAuthentication(server: FastifyInstance, options: AuthOptions): void {
  server.decorateRequest('context', undefined as unknown as RequestContext);
  server.addHook('onRequest', async (request) => {
    const credential = credentialOf(request);
    const requestedTenant = headerValue(request, TENANT_HEADER);
    if (requestedTenant !== undefined && !TENANT_ID.test(requestedTenant)) {
      throw new AppError(HttpErrors.badRequest, `${TENANT_HEADER} must be a tenant id like "acme-retail"`);
    }
    const requestId = String(request.id);
    const correlationHeader = headerValue(request, 'x-correlation-id');
    const correlationId =
      correlationHeader !== undefined && CORRELATION_ID.test(correlationHeader)
        ? correlationHeader
        : requestId;

    if (credential !== undefined) {
      const identity = await options.authenticator.authenticate(credential);
      if (identity === null) throw new AppError(HttpErrors.unauthenticated, 'The API key is not valid');
      if (requestedTenant !== undefined && requestedTenant !== identity.tenantId) {
        throw new AppError(HttpErrors.forbidden, 'The credentials belong to another tenant');
      }
      request.context = {
        tenantId: identity.tenantId,
        principal: identity.principal,
        requestId,
        correlationId,
      };
      return;
    }
    if (request.routeOptions.config.access !== 'public') {
      throw new AppError(
        HttpErrors.unauthenticated,
        'Send an API key as X-API-Key or Authorization: Bearer',
        {},
        { 'www-authenticate': 'Bearer' },
      );
    }
    request.context = {
      tenantId: requestedTenant ?? options.defaultTenantId,
      principal: null,
      requestId,
      correlationId,
    };
  });
}

function credentialOf(request: FastifyRequest): string | undefined {
  const apiKey = headerValue(request, 'x-api-key');
  const authorization = headerValue(request, 'authorization');
  let credential = apiKey;
  if (credential === undefined && authorization !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) throw new AppError(HttpErrors.unauthenticated, 'Authorization must be "Bearer <key>"');
    credential = match[1];
  }
  if (credential !== undefined && (credential.length === 0 || credential.length > CREDENTIAL_LENGTH_MAX)) {
    throw new AppError(HttpErrors.unauthenticated, 'The API key is not valid');
  }
  return credential;
}

export function headerValue(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  if (Array.isArray(value)) return value[0];
  return value === undefined || value === '' ? undefined : value;
}

/** Refuses callers that are not administrators of their tenant (operational and integration routes). */
export function requireAdmin(context: RequestContext): void {
  if (context.principal?.role !== 'admin') {
    throw new AppError(HttpErrors.forbidden, 'This route needs an admin API key');
  }
}
