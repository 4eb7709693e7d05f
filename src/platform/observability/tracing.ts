import {
  type Attributes,
  type Context,
  context,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { currentLogContext } from './log-context.js';

/**
 * The spans omnistock makes at its own boundaries (HTTP server, SQL, cache, outbox relay, broker
 * publish and consume, webhook delivery), through the OpenTelemetry API only. The SDK that exports
 * them is started by tracing-sdk.ts when OTEL_EXPORTER_OTLP_ENDPOINT is set; until then every helper
 * here returns after one boolean check, so tracing off costs nothing on the hot path.
 */
const TRACER_NAME = 'omnistock';

let enabled = false;

export function tracingEnabled(): boolean {
  return enabled;
}

/** Called by the SDK starter only. */
export function setTracingEnabled(value: boolean): void {
  enabled = value;
}

export { SpanKind, SpanStatusCode };

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent; the active context by default. */
  parent?: Context;
  /** Other spans this one serves too (a batch): OpenTelemetry's way of showing a fan-in. */
  links?: Link[];
}

/**
 * Runs `work` inside a span that becomes the active one; errors mark the span and are re-thrown.
 * Not an async function: with tracing off it hands back work's own promise rather than wrapping it
 * in another, on every call of every request.
 */
export function inSpan<T>(name: string, options: SpanOptions, work: (span?: Span) => Promise<T>): Promise<T> {
  if (!enabled) return work();
  const tracer = trace.getTracer(TRACER_NAME);
  return tracer.startActiveSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes ? { attributes: options.attributes } : {}),
      ...(options.links ? { links: options.links } : {}),
    },
    options.parent ?? context.active(),
    async (span) => {
      try {
        return await work(span);
      } catch (error) {
        markFailed(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** The active trace context, for work done later on this one's behalf; undefined when tracing is off. */
export function capturedTraceContext(): Context | undefined {
  return enabled ? context.active() : undefined;
}

/**
 * Runs work that serves several units of work at once (a batch) in one span: a child of the first
 * one's context and linked to each of the others, OpenTelemetry's way of showing a fan-in.
 */
export function inBatchSpan<T>(
  name: string,
  attributes: Attributes,
  contexts: readonly (Context | undefined)[],
  work: () => Promise<T>,
): Promise<T> {
  if (!enabled) return work();
  const links = contexts
    .slice(1)
    .map((each) => (each === undefined ? undefined : trace.getSpanContext(each)))
    .filter((spanContext) => spanContext !== undefined && trace.isSpanContextValid(spanContext))
    .map((spanContext) => ({ context: spanContext as NonNullable<typeof spanContext> }));
  return inSpan(name, { attributes, links, parent: contexts[0] ?? ROOT_CONTEXT }, () => work());
}

/** Starts a span the caller ends (work that spans callbacks); undefined when tracing is off. */
export function startSpan(name: string, options: SpanOptions): Span | undefined {
  if (!enabled) return undefined;
  return trace.getTracer(TRACER_NAME).startSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes ? { attributes: options.attributes } : {}),
    },
    options.parent ?? context.active(),
  );
}

export function markFailed(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : new Error(String(error)));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}

/** Runs `work` with `span` as the active span (no-op without one). */
export function withActiveSpan<T>(span: Span | undefined, work: () => T): T {
  if (span === undefined) return work();
  return context.with(trace.setSpan(context.active(), span), work);
}

/** A context whose parent is the given W3C traceparent (the root context when there is none). */
export function contextFromTraceparent(traceparent: string | undefined): Context {
  if (traceparent === undefined) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/** The W3C traceparent of a span, to put in a header. */
export function traceparentOf(span: Span): string {
  const { traceId, spanId, traceFlags } = span.spanContext();
  return `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`;
}

/**
 * The traceparent to write into what leaves this unit of work (events, outgoing requests): the
 * active span's when tracing, else the caller's incoming one, passed through unchanged.
 */
export function currentTraceparent(): string | undefined {
  if (enabled) {
    const span = trace.getActiveSpan();
    if (span !== undefined && trace.isSpanContextValid(span.spanContext())) return traceparentOf(span);
  }
  return currentLogContext()?.traceparent;
}

/** The active span's trace id, for log lines. */
export function activeTraceId(): string | undefined {
  if (!enabled) return undefined;
  const spanContext = trace.getActiveSpan()?.spanContext();
  return spanContext !== undefined && trace.isSpanContextValid(spanContext) ? spanContext.traceId : undefined;
}
