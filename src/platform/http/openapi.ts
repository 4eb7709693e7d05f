import type { RouteOptions } from 'fastify';
import Type, { type TSchema } from 'typebox';

/** RFC 9457 problem document as the OpenAPI contract shows it. */
const PROBLEM_TEXT_LENGTH_MAX = 2_000;
const PROBLEM_FIELD_ERRORS_MAX = 100;
const ProblemText = (description?: string) =>
  Type.String({ maxLength: PROBLEM_TEXT_LENGTH_MAX, ...(description === undefined ? {} : { description }) });

/** RFC 9457 problem document as the OpenAPI contract shows it; extension members vary by `code`. */
export const Problem = Type.Object(
  {
    type: Type.String({ format: 'uri', maxLength: 200 }),
    title: ProblemText(),
    status: Type.Integer({ format: 'int32', minimum: 400, maximum: 599 }),
    detail: ProblemText(),
    code: Type.String({
      description: 'Stable machine-readable error code',
      pattern: '^[A-Z][A-Z0-9_]*$',
      maxLength: 100,
    }),
    instance: Type.Optional(ProblemText()),
    request_id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._:-]+$', maxLength: 128 })),
    errors: Type.Optional(
      Type.Array(Type.Object({ field: ProblemText(), message: ProblemText() }), {
        maxItems: PROBLEM_FIELD_ERRORS_MAX,
      }),
    ),
  },
  { additionalProperties: true, maxProperties: 50, $id: undefined },
);

/** Success schemas plus the problem documents every route may answer with. */
export function withProblems<const Success extends Record<number, TSchema | { description: string }>>(
  success: Success,
) {
  return {
    ...success,
    '4xx': problemWith('RFC 9457 problem document', RATE_LIMIT_HEADERS),
    '5xx': problemWith('RFC 9457 problem document'),
  };
}

/** The security schemes of the document; every operation names them through `documentAccess`. */
export const SECURITY_SCHEMES = {
  apiKey: {
    type: 'apiKey',
    in: 'header',
    name: 'X-API-Key',
    description: 'An API key of the tenant, made by its administrator',
  },
  bearer: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      'A JWT access token from POST /api/v1/auth/login (validated per RFC8725: fixed algorithms, issuer, audience and expiry checked), or an API key sent as a bearer token',
  },
  operatorKey: {
    type: 'apiKey',
    in: 'header',
    name: 'X-API-Key',
    description: 'The platform operator key (OMNISTOCK_OPERATOR_API_KEY); tenant provisioning routes only',
  },
} as const;

const AUTHENTICATED: Array<Record<string, string[]>> = [{ apiKey: [] }, { bearer: [] }];
const OPERATOR: Array<Record<string, string[]>> = [{ operatorKey: [] }];

/** Response headers as the document generator takes them: a JSON schema each, with its description. */
const RATE_LIMIT_HEADERS = {
  'RateLimit-Limit': {
    description: 'Requests per minute of the bucket nearest to empty',
    type: 'integer',
    format: 'int32',
    minimum: 0,
    maximum: 10_000_000,
  },
  'RateLimit-Remaining': {
    description: 'Requests left in that bucket',
    type: 'integer',
    format: 'int32',
    minimum: 0,
    maximum: 10_000_000,
  },
  'RateLimit-Reset': {
    description: 'Seconds until that bucket is full again',
    type: 'integer',
    format: 'int32',
    minimum: 0,
    maximum: 60,
  },
} as const;

const problemWith = (description: string, headers: Record<string, unknown> = {}) => ({
  description,
  headers,
  content: { 'application/problem+json': { schema: Problem } },
});

type ResponseMap = Record<string, unknown>;

/**
 * The one place where a route's access becomes its OpenAPI contract: `access: 'public'` routes
 * declare `security: []`, `access: 'operator'` routes the operator key, every other route the API
 * key and bearer schemes; each non-public route its 401 and 403;
 * rate-limited routes declare 429 with `Retry-After` and the `RateLimit-*` headers on success.
 * Runs as an `onRoute` hook, before the document generator reads the route.
 */
export function documentAccess(route: RouteOptions, options: { rateLimited: boolean }): void {
  const schema = route.schema as (Record<string, unknown> & { response?: ResponseMap }) | undefined;
  if (schema === undefined || schema['hide'] === true) return;
  const access = route.config?.access;
  schema['security'] = access === 'public' ? [] : access === 'operator' ? OPERATOR : AUTHENTICATED;
  const response: ResponseMap = { ...(schema.response ?? {}) };
  response['401'] ??= problemWith('Missing or invalid credentials', {
    ...RATE_LIMIT_HEADERS,
    'WWW-Authenticate': { description: 'The scheme to authenticate with', type: 'string', const: 'Bearer' },
  });
  response['403'] ??= problemWith('The credentials do not allow this', RATE_LIMIT_HEADERS);
  if (options.rateLimited) {
    for (const [status, value] of Object.entries(response)) {
      if (status.startsWith('2') && typeof value === 'object' && value !== null && !('headers' in value)) {
        // A copy: response schemas are shared between routes.
        response[status] = { ...value, headers: RATE_LIMIT_HEADERS };
      }
    }
    response['429'] ??= problemWith('Too many requests: a rate limit was reached', {
      ...RATE_LIMIT_HEADERS,
      'Retry-After': {
        description: 'Seconds to wait before retrying',
        type: 'integer',
        format: 'int32',
        minimum: 1,
        maximum: 60,
      },
    });
  }
  response['400'] ??= problemWith('The request is not valid', options.rateLimited ? RATE_LIMIT_HEADERS : {});
  response['500'] ??= problemWith('An unexpected error; it has been logged');
  schema.response = response;
}

export const IfMatchHeader = Type.Object({
  'if-match': Type.Optional(Type.String({ maxLength: 100, description: 'ETag of the version you read' })),
});

export const IdempotencyHeader = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ maxLength: 255, description: 'Replays the first response for a repeated request' }),
  ),
});
