import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { AppError, HttpErrors } from './problem.js';
import type { Principal, RequestContext, Role } from './request-context.js';
import { routeOf } from './route-of.js';

/**
 * The one authorization vocabulary of the API (the role matrix is in docs/api.md):
 * - `requireRole`: the caller's role is one of these; 401 without credentials, 403 otherwise.
 * - `requireStoreAccess`: the caller works in this store; admins and principals whose store list
 *   is null work in every store of their tenant.
 * Tenancy is not checked here: the tenant always comes from the principal, never from input.
 */
export function requireRole(context: RequestContext, ...roles: readonly Role[]): Principal {
  const principal = context.principal;
  if (principal === null) {
    throw new AppError(HttpErrors.unauthenticated, 'This route needs credentials', {}, BEARER_CHALLENGE);
  }
  if (!roles.includes(principal.role)) {
    throw new AppError(HttpErrors.forbidden, `This route is not open to the ${principal.role} role`);
  }
  return principal;
}

export function requireStoreAccess(context: RequestContext, storeId: string): void {
  if (!canAccessStore(context.principal, storeId)) {
    throw new AppError(HttpErrors.forbidden, `You do not work in store ${storeId}`, { store_id: storeId });
  }
}

export function canAccessStore(principal: Principal | null, storeId: string): boolean {
  if (principal === null) return false;
  if (principal.role === 'admin' || principal.storeIds === null) return true;
  return principal.storeIds.includes(storeId);
}

/**
 * Store-wide views: a principal limited to some stores must name one of them; everyone else may
 * leave the store out and see the whole tenant.
 */
export function requireNamedStoreWhenScoped(context: RequestContext, storeId: string | undefined): void {
  if (storeId !== undefined) {
    requireStoreAccess(context, storeId);
    return;
  }
  if (storeScopeOf(context) !== null) {
    throw new AppError(HttpErrors.forbidden, 'Name one of your stores with store_id');
  }
}

/** Whether the caller is limited to a list of stores (and so must name one on store-wide views). */
export function storeScopeOf(context: RequestContext): readonly string[] | null {
  const principal = context.principal;
  if (principal === null || principal.role === 'admin') return null;
  return principal.storeIds;
}

/**
 * A route hook refusing other roles before the body is read and before an Idempotency-Key is claimed.
 * The checks wait for nothing, so the hooks are callback ones: no promise per request. A refusal is
 * thrown, and Fastify answers it as it would a rejection.
 */
export function allowRoles(...roles: readonly Role[]) {
  return (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    requireRole(request.context, ...roles);
    done();
  };
}

/**
 * A plugin-wide hook for staff routes: routes declared `access: 'public'` stay open to everyone;
 * the others need one of `roles` and, when the path names a `storeId`, access to that store.
 * Runs before the body is read; stores named in a body are checked by the handler.
 */
export function staffOnly(roles: readonly Role[]) {
  return (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    if (routeOf(request).config.access !== 'public') {
      requireRole(request.context, ...roles);
      const storeId = (request.params as Record<string, unknown> | undefined)?.['storeId'];
      if (typeof storeId === 'string') requireStoreAccess(request.context, storeId);
    }
    done();
  };
}

/** Roles that handle stock in stores: staff, as opposed to customers. */
export const STAFF_ROLES: readonly Role[] = ['admin', 'manager', 'vendor'];
/** Roles that change the catalog and the stores. */
export const CATALOG_ROLES: readonly Role[] = ['admin', 'manager'];

export const BEARER_CHALLENGE: Readonly<Record<string, string>> = { 'www-authenticate': 'Bearer' };
