import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BEARER_CHALLENGE, requireRole } from './authorization.js';
import { AppError, HttpErrors } from './problem.js';
import type { Authenticator, Identity, RequestContext } from './request-context.js';
import { routeOf } from './route-of.js';

const TENANT_HEADER = 'x-tenant-id';
const TENANT_ID = /^[a-z0-9][a-z0-9-]{1,49}$/;
/** Room for a JWT carrying a long store list; API keys are far shorter. */
const CREDENTIAL_LENGTH_MAX = 4096;
const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface AuthOptions {
  authenticator: Authenticator;
  /** Tenant of anonymous reads that do not name one with `X-Tenant-Id`. */
  defaultTenantId: string;
  /** Told of each request's context as soon as it is established (the log context takes the tenant). */
  established?: (request: FastifyRequest, context: RequestContext) => void;
}

/**
 * Builds `request.context` for every route. Credentials come as `X-API-Key: <key>` or
 * `Authorization: Bearer <key or JWT>`; the authenticator tells API keys (`osk_…` or an operator's
 * own) from JWTs (three dot-separated parts). Routes are authenticated unless they declare
 * `access: 'public'`: a route someone forgot to classify fails closed. `access: 'operator'` routes
 * belong to no tenant and check the operator key themselves.
 */
export function registerAuthentication(server: FastifyInstance, options: AuthOptions): void {
  server.decorateRequest('context', undefined as unknown as RequestContext);
  // A callback hook, not an async one: a key verified a moment ago is recognised at once, and the
  // request goes on without a promise. Throwing here is answered like a rejection.
  server.addHook('onRequest', (request, _reply, done) => {
    if (routeOf(request).config.access === 'operator') {
      done();
      return;
    }
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
      const establish = (identity: Identity | null) => {
        if (identity === null) {
          throw new AppError(
            HttpErrors.unauthenticated,
            'The credentials are not valid',
            {},
            BEARER_CHALLENGE,
          );
        }
        if (requestedTenant !== undefined && requestedTenant !== identity.tenantId) {
          throw new AppError(HttpErrors.forbidden, 'The credentials belong to another tenant');
        }
        request.context = {
          tenantId: identity.tenantId,
          principal: identity.principal,
          requestId,
          correlationId,
          clientIp: request.ip,
        };
        options.established?.(request, request.context);
      };
      const recognised = options.authenticator.recognise(credential);
      if (recognised !== undefined) {
        establish(recognised);
        done();
        return;
      }
      options.authenticator
        .authenticate(credential)
        .then(establish)
        .then(() => done(), done);
      return;
    }
    if (routeOf(request).config.access !== 'public') {
      throw new AppError(
        HttpErrors.unauthenticated,
        'Send an API key as X-API-Key, or an API key or access token as Authorization: Bearer',
        {},
        BEARER_CHALLENGE,
      );
    }
    request.context = {
      tenantId: requestedTenant ?? options.defaultTenantId,
      principal: null,
      requestId,
      correlationId,
      clientIp: request.ip,
    };
    options.established?.(request, request.context);
    done();
  });
}

/** The credential a request presents, if any; malformed ones are refused with a 401. */
export function credentialOf(request: FastifyRequest): string | undefined {
  const apiKey = headerValue(request, 'x-api-key');
  const authorization = headerValue(request, 'authorization');
  let credential = apiKey;
  if (credential === undefined && authorization !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) {
      throw new AppError(
        HttpErrors.unauthenticated,
        'Authorization must be "Bearer <credential>"',
        {},
        BEARER_CHALLENGE,
      );
    }
    credential = match[1];
  }
  if (credential !== undefined && (credential.length === 0 || credential.length > CREDENTIAL_LENGTH_MAX)) {
    throw new AppError(HttpErrors.unauthenticated, 'The credentials are not valid', {}, BEARER_CHALLENGE);
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
  requireRole(context, 'admin');
}
