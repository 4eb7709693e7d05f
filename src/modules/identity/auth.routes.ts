import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { withProblems } from '../../platform/http/openapi.js';
import type { AuthService } from './auth.service.js';
import { Jwks, Login, RefreshRequest, Register, TokenResponse } from './identity.schemas.js';
import type { TokenService } from './token.service.js';

/** Sign-in routes: public, since they are where credentials come from. Tokens are never cached. */
export function authRoutes(auth: AuthService): FastifyPluginAsyncTypebox {
  return async (api) => {
    const tags = ['auth'];
    const config = { access: 'public' as const };

    api.post(
      '/auth/register',
      {
        config,
        schema: {
          tags,
          summary: 'Create a customer account in a tenant and sign in',
          body: Register,
          response: withProblems({ 201: TokenResponse }),
        },
      },
      async (request, reply) =>
        reply
          .code(201)
          .header('cache-control', 'no-store')
          .send(await auth.register(request.context, request.body)),
    );

    api.post(
      '/auth/login',
      {
        config,
        schema: {
          tags,
          summary: 'Sign in with email and password: an access token and a refresh token',
          body: Login,
          response: withProblems({ 200: TokenResponse }),
        },
      },
      async (request, reply) =>
        reply.header('cache-control', 'no-store').send(await auth.login(request.context, request.body)),
    );

    api.post(
      '/auth/refresh',
      {
        config,
        schema: {
          tags,
          summary: 'Exchange a refresh token (single use) for a new pair; reuse revokes the session',
          body: RefreshRequest,
          response: withProblems({ 200: TokenResponse }),
        },
      },
      async (request, reply) =>
        reply
          .header('cache-control', 'no-store')
          .send(await auth.refresh(request.context, request.body.refresh_token)),
    );

    api.post(
      '/auth/logout',
      {
        config,
        schema: {
          tags,
          summary: 'End the session of a refresh token (all tokens of its family)',
          body: RefreshRequest,
          response: withProblems({ 204: { description: 'Signed out' } }),
        },
      },
      async (request, reply) => {
        await auth.logout(request.context, request.body.refresh_token);
        return reply.code(204).send();
      },
    );
  };
}

/** GET /.well-known/jwks.json: the public keys that verify our access tokens (current and previous). */
export function jwksRoutes(tokens: TokenService): FastifyPluginAsyncTypebox {
  return async (server) => {
    server.get(
      '/.well-known/jwks.json',
      {
        config: { access: 'public' },
        schema: {
          tags: ['auth'],
          summary: 'Public keys that verify access tokens (JWKS)',
          response: withProblems({ 200: Jwks }),
        },
      },
      async (_request, reply) => reply.header('cache-control', 'public, max-age=300').send(tokens.jwks()),
    );
  };
}
