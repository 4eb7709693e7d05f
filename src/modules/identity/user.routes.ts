import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { allowRoles } from '../../platform/http/authorization.js';
import { IdempotencyHeader, withProblems } from '../../platform/http/openapi.js';
import {
  decodeCursor,
  PAGE_LIMIT_DEFAULT,
  PageOf,
  PageQuery,
  toPage,
} from '../../platform/http/pagination.js';
import { AppError, HttpErrors } from '../../platform/http/problem.js';
import { isUuid } from '../../platform/ids.js';
import { type ApiKeyService, toApiKey } from './api-key.service.js';
import { type AuditService, toAuditEntry } from './audit.service.js';
import {
  ApiKey,
  ApiKeyCreate,
  ApiKeyWithSecret,
  AuditEntry,
  User,
  UserCreate,
  UserId,
  UserUpdate,
} from './identity.schemas.js';
import { toUser, type UserService } from './user.service.js';

const UserParams = Type.Object({ userId: UserId });

/** The id a cursor of these lists carries; anything else is a 400, never a failed uuid cast. */
function idAfter(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const [id] = decodeCursor(cursor, ['string']);
  if (!isUuid(id))
    throw new AppError(HttpErrors.invalidCursor, 'Use the next_cursor of a previous page unchanged');
  return id;
}
const AUDIT_ACTION_PATTERN = '^[a-z_]+\\.[a-z_]+$';

/** User, API key and audit administration: administrators of the tenant only. */
export function userRoutes(services: {
  users: UserService;
  apiKeys: ApiKeyService;
  audit: AuditService;
}): FastifyPluginAsyncTypebox {
  const { users, apiKeys, audit } = services;
  return async (api) => {
    // Before the body is read and before an Idempotency-Key is claimed.
    api.addHook('onRequest', allowRoles('admin'));

    api.post(
      '/users',
      {
        schema: {
          tags: ['users'],
          summary: 'Create a user of your tenant',
          headers: IdempotencyHeader,
          body: UserCreate,
          response: withProblems({ 201: User }),
        },
      },
      async (request, reply) => {
        const user = await users.create(request.context, request.body);
        return reply.code(201).header('location', `/api/v1/users/${user.id}`).send(user);
      },
    );

    api.get(
      '/users',
      {
        schema: {
          tags: ['users'],
          summary: 'List the users of your tenant',
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: withProblems({ 200: PageOf(User) }),
        },
      },
      async (request) => {
        const limit = request.query.limit ?? PAGE_LIMIT_DEFAULT;
        const after = idAfter(request.query.cursor);
        const rows = await users.list(request.context.tenantId, after, limit);
        return toPage(rows, limit, (row) => [row.id], toUser);
      },
    );

    api.get(
      '/users/:userId',
      {
        schema: {
          tags: ['users'],
          summary: 'One user',
          params: UserParams,
          response: withProblems({ 200: User }),
        },
      },
      async (request) => users.get(request.context.tenantId, request.params.userId),
    );

    api.patch(
      '/users/:userId',
      {
        schema: {
          tags: ['users'],
          summary: "Change a user's role, stores or disabled flag (not your own)",
          params: UserParams,
          body: UserUpdate,
          response: withProblems({ 200: User }),
        },
      },
      async (request) => users.update(request.context, request.params.userId, request.body),
    );

    api.delete(
      '/users/:userId',
      {
        schema: {
          tags: ['users'],
          summary: 'Disable a user: sessions end, the row stays for the audit log',
          params: UserParams,
          response: withProblems({ 204: { description: 'Disabled' } }),
        },
      },
      async (request, reply) => {
        await users.update(request.context, request.params.userId, { disabled: true });
        return reply.code(204).send();
      },
    );

    api.post(
      '/api-keys',
      {
        schema: {
          tags: ['api-keys'],
          summary: 'Create an API key (the key is in this response only)',
          headers: IdempotencyHeader,
          body: ApiKeyCreate,
          response: withProblems({ 201: ApiKeyWithSecret }),
        },
      },
      async (request, reply) => {
        const key = await apiKeys.create(request.context, request.body);
        return reply.code(201).header('cache-control', 'no-store').send(key);
      },
    );

    api.get(
      '/api-keys',
      {
        schema: {
          tags: ['api-keys'],
          summary: 'List API keys (never the keys themselves)',
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: withProblems({ 200: PageOf(ApiKey) }),
        },
      },
      async (request) => {
        const limit = request.query.limit ?? PAGE_LIMIT_DEFAULT;
        const after = idAfter(request.query.cursor);
        const rows = await apiKeys.list(request.context.tenantId, after, limit);
        return toPage(rows, limit, (row) => [row.id], toApiKey);
      },
    );

    api.delete(
      '/api-keys/:keyId',
      {
        schema: {
          tags: ['api-keys'],
          summary: 'Revoke an API key (other instances refuse it within 5 s)',
          params: Type.Object({ keyId: Type.String({ format: 'uuid' }) }),
          response: withProblems({ 204: { description: 'Revoked' } }),
        },
      },
      async (request, reply) => {
        await apiKeys.revoke(request.context, request.params.keyId);
        return reply.code(204).send();
      },
    );

    api.get(
      '/audit',
      {
        schema: {
          tags: ['audit'],
          summary: 'The audit log of security-relevant actions, newest first',
          querystring: Type.Object(
            {
              ...PageQuery,
              action: Type.Optional(Type.String({ pattern: AUDIT_ACTION_PATTERN, maxLength: 100 })),
            },
            { additionalProperties: false },
          ),
          response: withProblems({ 200: PageOf(AuditEntry) }),
        },
      },
      async (request) => {
        const limit = request.query.limit ?? PAGE_LIMIT_DEFAULT;
        const beforeId = idAfter(request.query.cursor);
        const rows = await audit.list(request.context.tenantId, {
          action: request.query.action,
          beforeId,
          limit,
        });
        return toPage(rows, limit, (row) => [row.id], toAuditEntry);
      },
    );
  };
}
