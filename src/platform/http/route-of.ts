import type { FastifyInstance, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    matchedRoute: FastifyRequest['routeOptions'] | undefined;
  }
}

/** Declares the slot `routeOf` fills, so that every request object keeps one shape. */
export function registerRouteOf(server: FastifyInstance): void {
  server.decorateRequest('matchedRoute', undefined);
}

/**
 * The options of the route a request matched (its URL template, its config), read once per request.
 * Fastify's `request.routeOptions` builds a new object of a dozen fields on every read, and the hooks
 * of one request (observation, authentication, authorization, rate limits) each read it.
 */
export function routeOf(request: FastifyRequest): FastifyRequest['routeOptions'] {
  request.matchedRoute ??= request.routeOptions;
  return request.matchedRoute;
}
