import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import helmet from 'helmet';
import { registerErrorHandling } from './error-handler.js';
import { documentAccess, SECURITY_SCHEMES } from './openapi.js';
import { RATE_LIMIT_EXEMPT_ROUTES } from './rate-limit.js';
import { registerRouteOf } from './route-of.js';

export interface HttpServerOptions {
  logger: FastifyBaseLogger;
  bodyLimitBytes: number;
  /** Bounds slow-loris: a request must arrive whole within this time. */
  requestTimeoutMs: number;
  /** Bounds slow-loris on the headers alone: they must arrive whole within this. */
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  connectionsMax: number;
  /** Proxies in front whose X-Forwarded-For is believed (0: none; the peer address is the client). */
  trustProxyHops: number;
  /** Browser origins allowed to call the API; none by default. */
  corsAllowedOrigins: readonly string[];
  version: string;
}

/** How often Node looks for connections past their headers or request timeout. */
const CONNECTIONS_CHECK_INTERVAL_MS = 1_000;
const HSTS_MAX_AGE_SECONDS = 365 * 24 * 3600;

/**
 * helmet's security headers for our options, as a document (an HTML page) needs them. They are the
 * same for every response, so they are computed once, by helmet itself, and set with one call per
 * request: running helmet's middleware chain on every request cost more than a cached read.
 */
const DOCUMENT_SECURITY_HEADERS: Readonly<Record<string, string>> = headersSetBy(
  helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
    },
    strictTransportSecurity: { maxAge: HSTS_MAX_AGE_SECONDS, includeSubDomains: true },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    frameguard: { action: 'deny' },
  }),
);

/**
 * The ones a browser heeds on a JSON answer: OWASP's REST Security Cheat Sheet's set (no script may
 * run or load, no framing, no sniffing, HTTPS only, no referrer) and CORP, which keeps other sites
 * from reading an answer as a no-cors subresource. The rest of helmet's set governs documents
 * (opener isolation, origin-keyed agent clusters, DNS prefetching of their links, legacy XSS
 * filters, IE's download prompt, Flash policy files): on an API they are bytes and header
 * validations on every answer and protect nothing. ADR 0037.
 */
const API_SECURITY_HEADERS: Readonly<Record<string, string>> = pick(DOCUMENT_SECURITY_HEADERS, [
  'content-security-policy',
  'cross-origin-resource-policy',
  'referrer-policy',
  'strict-transport-security',
  'x-content-type-options',
  'x-frame-options',
]);

function pick(headers: Readonly<Record<string, string>>, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    names.map((name) => {
      const value = headers[name];
      if (value === undefined) throw new Error(`helmet no longer sets ${name}`);
      return [name, value];
    }),
  );
}

function headersSetBy(middleware: ReturnType<typeof helmet>): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  middleware({} as IncomingMessage, response as unknown as ServerResponse, () => {});
  return headers;
}
const CORS_MAX_AGE_SECONDS = 600;
/** Headers a browser client may send and read, beyond the CORS-safelisted ones. */
const CORS_ALLOWED_HEADERS = [
  'authorization',
  'content-type',
  'idempotency-key',
  'if-match',
  'x-api-key',
  'x-correlation-id',
  'x-request-id',
  'x-tenant-id',
];
const CORS_EXPOSED_HEADERS = [
  'etag',
  'location',
  'retry-after',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'x-request-id',
];

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export type HttpServer = FastifyInstance;

export interface RouteEntry {
  method: string;
  url: string;
  /** Left out of the OpenAPI document on purpose (operational endpoints, the docs UI). */
  hidden: boolean;
}

const inventories = new WeakMap<object, RouteEntry[]>();

/** Every route the server has, as registered: what an inventory check compares with the document. */
export function routeInventory(server: object): readonly RouteEntry[] {
  return inventories.get(server) ?? [];
}

/**
 * Fastify with our conventions: problem+json errors, strict validation (unknown fields and wrong
 * types are errors; only path, query and header strings are coerced), `X-Request-Id` in and out,
 * OpenAPI 3.1 at /openapi.json and its UI at /docs.
 */
export async function createHttpServer(options: HttpServerOptions) {
  const server = Fastify({
    loggerInstance: options.logger,
    bodyLimit: options.bodyLimitBytes,
    requestTimeout: options.requestTimeoutMs,
    connectionTimeout: options.requestTimeoutMs,
    keepAliveTimeout: options.keepAliveTimeoutMs,
    http: {
      headersTimeout: options.headersTimeoutMs,
      connectionsCheckingInterval: CONNECTIONS_CHECK_INTERVAL_MS,
    },
    // The client address is the one the nearest `trustProxyHops` proxies saw; never a client's own claim.
    trustProxy: (_address: string, hop: number) => hop < options.trustProxyHops,
    // Refusals while closing are answered by the app, as problem documents (see app.ts).
    return503OnClosing: false,
    // genReqId reads X-Request-Id itself, so that an unsafe value is replaced rather than echoed.
    requestIdHeader: false,
    genReqId: (request) => {
      const incoming = request.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // Observability: one line per request is written by platform/observability/request-observer.ts,
    // and the request id reaches every line through the log context, not a child-logger binding.
    logController: new LogController({ disableRequestLogging: true }),
    // With no options of its route (a log level, serializers) a request's logger is the server's
    // own: a child per request would only repeat it.
    childLoggerFactory: (logger, _bindings, childOptions) =>
      Object.keys(childOptions).length === 0 ? logger : logger.child({}, childOptions),
  }).withTypeProvider<TypeBoxTypeProvider>();
  // Past this, new connections are refused at once rather than starving the ones being served.
  server.server.maxConnections = options.connectionsMax;

  const strict = { allErrors: true, removeAdditional: false, useDefaults: true, strict: false } as const;
  const bodyValidator = addFormats.default(new Ajv({ ...strict, coerceTypes: false }));
  const textValidator = addFormats.default(new Ajv({ ...strict, coerceTypes: 'array' }));
  server.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? bodyValidator : textValidator).compile(schema),
  );

  // The API speaks JSON only; other bodies get a 415 rather than a confusing validation error.
  server.removeContentTypeParser(['text/plain']);
  // Responses to credentialed requests are someone's data: no shared or browser cache keeps them.
  server.addHook('onSend', (request, reply, payload, done) => {
    const credentialed =
      request.headers['x-api-key'] !== undefined || request.headers.authorization !== undefined;
    if (credentialed) reply.header('cache-control', 'no-store');
    done(null, payload);
  });
  registerErrorHandling(server);
  registerRouteOf(server);
  // Before any route and before the document generator: security is derived from `access`.
  const inventory: RouteEntry[] = [];
  inventories.set(server, inventory);
  server.addHook('onRoute', (route) => {
    documentAccess(route, { rateLimited: !RATE_LIMIT_EXEMPT_ROUTES.has(route.url) });
    const hidden =
      (route.schema as { hide?: boolean } | undefined)?.hide === true || route.schema === undefined;
    for (const method of [route.method].flat()) inventory.push({ method, url: route.url, hidden });
  });

  // An API answers JSON, never a page to frame or a script to run; /docs relaxes this for itself.
  // Hooks that do not wait for anything take `done`: an async hook costs a promise and a turn of
  // the microtask queue on every request.
  server.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', String(request.id));
    reply.headers(API_SECURITY_HEADERS);
    done();
  });
  // Without an allowed origin no browser may call cross-origin: no preflight answered, no CORS
  // header on any response, and no hook on every request to decide so.
  if (options.corsAllowedOrigins.length > 0) {
    await server.register(cors, {
      origin: [...options.corsAllowedOrigins],
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: CORS_ALLOWED_HEADERS,
      exposedHeaders: CORS_EXPOSED_HEADERS,
      maxAge: CORS_MAX_AGE_SECONDS,
      credentials: false,
    });
  }

  await server.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'omnistock API',
        version: options.version,
        description:
          'Real-time, multi-tenant inventory: stock per store, reservations with a time limit, no oversell.',
      },
      // Served to the tenants' own systems and storefronts, not only inside one network.
      servers: [{ url: '/', ...{ 'x-internal': false } }],
      components: {
        securitySchemes: SECURITY_SCHEMES,
      },
    },
  });
  // The UI's pages are the server's only documents: helmet's whole set, added in the UI's own
  // plugin scope so that no API request pays for the choice. They need scripts and styles from
  // this origin, so the UI sets its own CSP; the API's stays 'none'.
  await server.register(async (documents) => {
    documents.addHook('onRequest', (_request, reply, done) => {
      reply.headers(DOCUMENT_SECURITY_HEADERS);
      done();
    });
    await documents.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  });
  server.get('/openapi.json', { schema: { hide: true }, config: { access: 'public' } }, async () =>
    server.swagger(),
  );

  return server;
}
