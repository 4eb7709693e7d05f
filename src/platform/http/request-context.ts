/**
 * Who is calling and on whose behalf. Built once per request by the auth hook and passed to
 * services explicitly: services never read HTTP requests.
 */
export type Role = 'admin' | 'manager' | 'vendor' | 'customer';

export type PrincipalKind = 'user' | 'api_key';

export interface Principal {
  /** A person signed in with a JWT, or a machine with an API key. */
  kind: PrincipalKind;
  /** The user id (the JWT `sub`) or the API key id. */
  id: string;
  /** The user's email or the key's name: for logs and audit, never for decisions. */
  name: string;
  role: Role;
  /** Stores this principal may act in; null means every store of the tenant. */
  storeIds: readonly string[] | null;
}

export interface RequestContext {
  tenantId: string;
  /** null on public routes called without credentials. */
  principal: Principal | null;
  requestId: string;
  /** Joins every log line, ledger row and event a request causes; `X-Correlation-Id` or the request id. */
  correlationId: string;
  /** The client's address as Fastify sees it (honouring trustProxy), for the audit log. */
  clientIp?: string;
}

/** A short, stable description of who acted, for ledgers and audit: `api_key:<id>` or `user:<id>`. */
export function actorOf(context: RequestContext): string {
  return context.principal ? `${context.principal.kind}:${context.principal.id}` : 'anonymous';
}

export interface Identity {
  tenantId: string;
  principal: Principal;
}

/** Resolves a presented credential to its tenant and principal; implemented by the identity module. */
export interface Authenticator {
  authenticate(credential: string): Promise<Identity | null>;
  /**
   * The identity of a credential this instance verified a moment ago, answered without waiting;
   * undefined when it must be looked up (`authenticate`).
   */
  recognise(credential: string): Identity | undefined;
}

/**
 * Route-level access: `public` routes accept anonymous callers; `operator` routes check the
 * platform operator's key themselves (it belongs to no tenant); everything else needs credentials.
 */
export type RouteAccess = 'public' | 'authenticated' | 'operator';

declare module 'fastify' {
  interface FastifyRequest {
    context: RequestContext;
  }
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
}
