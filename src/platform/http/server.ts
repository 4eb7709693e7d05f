import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { registerErrorHandling } from './error-handler.js';

export interface HttpServerOptions {
  logger: FastifyBaseLogger;
  bodyLimitBytes: number;
  /** Bounds slow-loris: a request must arrive whole within this time. */
  requestTimeoutMs: number;
  version: string;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export type HttpServer = FastifyInstance;

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
    return503OnClosing: true,
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
    childLoggerFactory: (logger, _bindings, childOptions) => logger.child({}, childOptions),
  }).withTypeProvider<TypeBoxTypeProvider>();

  const strict = { allErrors: true, removeAdditional: false, useDefaults: true, strict: false } as const;
  const bodyValidator = addFormats.default(new Ajv({ ...strict, coerceTypes: false }));
  const textValidator = addFormats.default(new Ajv({ ...strict, coerceTypes: 'array' }));
  server.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? bodyValidator : textValidator).compile(schema),
  );

  // The API speaks JSON only; other bodies get a 415 rather than a confusing validation error.
  server.removeContentTypeParser(['text/plain']);
  server.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', String(request.id));
  });
  registerErrorHandling(server);

  await server.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'omnistock API',
        version: options.version,
        description:
          'Real-time, multi-tenant inventory: stock per store, reservations with a time limit, no oversell.',
      },
      servers: [{ url: '/' }],
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
    },
  });
  await server.register(swaggerUi, { routePrefix: '/docs' });
  server.get('/openapi.json', { schema: { hide: true }, config: { access: 'public' } }, async () =>
    server.swagger(),
  );

  return server;
}
