import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { routeOf } from '../http/route-of.js';
import { type LogContext, runWithLogContext, traceIdOf, validTraceparent } from './log-context.js';
import {
  contextFromTraceparent,
  SpanKind,
  SpanStatusCode,
  startSpan,
  traceparentOf,
  tracingEnabled,
  withActiveSpan,
} from './tracing.js';

/** Told of every finished request (metrics). */
export type RequestRecorder = (
  method: string,
  route: string,
  statusCode: number,
  durationSeconds: number,
) => void;

/** The route label of requests no route matched: raw paths never become labels. */
export const UNMATCHED_ROUTE = 'unmatched';
/**
 * Probes and scrapes arrive every few seconds from machines: no span, and their line at `debug`,
 * so they do not drown the traces and logs of real traffic. They are still measured.
 */
const PROBE_ROUTES: ReadonlySet<string> = new Set(['/health', '/ready', '/metrics']);

declare module 'fastify' {
  interface FastifyRequest {
    observation?: { logContext: LogContext; span: ReturnType<typeof startSpan> };
  }
}

/**
 * One place that watches every request: it opens the request's log context (request id, trace id;
 * tenant once authenticated, see `noteTenant`), the HTTP server span (continuing an incoming
 * `traceparent`), and on the way out writes the one log line per request and tells the recorder.
 * Must be registered first, before any other onRequest hook, so everything after runs inside.
 */
export function observeRequests(server: FastifyInstance, record: RequestRecorder): void {
  // Declared up front so every request object keeps one shape.
  server.decorateRequest('observation', undefined);
  server.addHook('onRequest', (request, _reply, done) => {
    const header = request.headers['traceparent'];
    const incoming = validTraceparent(typeof header === 'string' ? header : undefined);
    const route = routeOf(request).url ?? UNMATCHED_ROUTE;
    const span =
      tracingEnabled() && !PROBE_ROUTES.has(route)
        ? startSpan(`${request.method} ${route}`, {
            kind: SpanKind.SERVER,
            parent: contextFromTraceparent(incoming),
            attributes: {
              'http.request.method': request.method,
              'http.route': route,
              'url.path': request.url.split('?')[0] ?? '/',
            },
          })
        : undefined;
    const logContext: LogContext = {
      requestId: String(request.id),
      ...(span !== undefined
        ? { traceId: span.spanContext().traceId, traceparent: traceparentOf(span) }
        : incoming !== undefined
          ? { traceId: traceIdOf(incoming) as string, traceparent: incoming }
          : {}),
    };
    request.observation = { logContext, span };
    // `done` runs the rest of the request (hooks, handler, reply) inside both contexts.
    runWithLogContext(logContext, () => withActiveSpan(span, done));
  });
  server.addHook('onResponse', (request, reply, done) => {
    finish(request, reply, record);
    done();
  });
  server.addHook('onRequestAbort', async (request) => {
    const span = request.observation?.span;
    span?.setAttribute('http.request.aborted', true);
    span?.end();
  });
}

/** Adds the tenant to the request's log lines once authentication has established it. */
export function noteTenant(request: FastifyRequest, tenant: string, correlationId: string): void {
  const logContext = request.observation?.logContext;
  if (logContext === undefined) return;
  logContext.tenant = tenant;
  if (correlationId !== logContext.requestId) logContext.correlationId = correlationId;
  request.observation?.span?.setAttribute('omnistock.tenant', tenant);
}

function finish(request: FastifyRequest, reply: FastifyReply, record: RequestRecorder): void {
  const route = routeOf(request).url ?? UNMATCHED_ROUTE;
  const durationMs = reply.elapsedTime;
  const statusCode = reply.statusCode;
  record(request.method, route, statusCode, durationMs / 1000);
  const span = request.observation?.span;
  if (span !== undefined) {
    span.setAttribute('http.response.status_code', statusCode);
    if (statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  }
  const level = statusCode >= 500 ? 'error' : PROBE_ROUTES.has(route) ? 'debug' : 'info';
  // A line the logger would drop (LOG_LEVEL above it) is not built, nor its context entered.
  if (!levelEnabled(request.log, level)) return;
  const line = {
    method: request.method,
    route,
    status_code: statusCode,
    duration_ms: Math.round(durationMs * 1000) / 1000,
  };
  // onResponse runs on the socket's 'finish', outside the request's async context: re-enter it so
  // the line carries the request id, trace id and tenant like every other line of the request.
  const write = () => request.log[level](line, level === 'error' ? 'request failed' : 'request completed');
  const logContext = request.observation?.logContext;
  if (logContext === undefined) write();
  else runWithLogContext(logContext, write);
}

/** Whether a logger writes lines of `level`: pino tells; a logger that cannot is asked to write. */
function levelEnabled(logger: FastifyBaseLogger, level: 'error' | 'info' | 'debug'): boolean {
  return (logger as Partial<Pick<Logger, 'isLevelEnabled'>>).isLevelEnabled?.(level) ?? true;
}
