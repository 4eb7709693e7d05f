import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What joins the log lines of one unit of work: an HTTP request, or the handling of one event by a
 * consumer. It follows the work across awaits (AsyncLocalStorage), so code deep inside a service
 * logs with the root logger and still carries the request id, without loggers passed down.
 */
export interface LogContext {
  /** Set on HTTP requests: `X-Request-Id` if valid, else generated. */
  requestId?: string;
  /** The request's correlation id, or the correlation id an event carries. */
  correlationId?: string;
  /** The W3C trace id when one is known (incoming `traceparent`, the active span, or the event's). */
  traceId?: string;
  /** An incoming `traceparent`, passed on into events when tracing is off (so consumers join). */
  traceparent?: string;
  tenant?: string;
  eventId?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

export function runWithLogContext<T>(context: LogContext, work: () => T): T {
  return storage.run(context, work);
}

export function currentLogContext(): LogContext | undefined {
  return storage.getStore();
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const INVALID_TRACE_ID = '0'.repeat(32);

/** The trace id of a W3C traceparent; undefined for anything malformed or all-zero. */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  if (traceparent === undefined) return undefined;
  const match = TRACEPARENT.exec(traceparent.trim().toLowerCase());
  const traceId = match?.[1];
  return traceId === undefined || traceId === INVALID_TRACE_ID ? undefined : traceId;
}

/** A traceparent only if it is well-formed: anything else from outside is dropped, not passed on. */
export function validTraceparent(value: string | undefined): string | undefined {
  return traceIdOf(value) === undefined ? undefined : value?.trim().toLowerCase();
}
