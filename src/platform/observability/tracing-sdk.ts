import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  NodeTracerProvider,
  ParentBasedSampler,
  type Sampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-node';
import type { TracingConfig } from '../../config.js';
import { setTracingEnabled } from './tracing.js';

export interface Tracing {
  /** Exports every span finished so far. */
  flush(): Promise<void>;
  /** Exports what is buffered, then stops; call on shutdown. */
  shutdown(): Promise<void>;
}

/** Spans buffered for export at most; beyond it new spans are dropped rather than memory grown. */
const SPAN_QUEUE_SIZE_MAX = 4_096;
const EXPORT_BATCH_SIZE_MAX = 512;
const EXPORT_TIMEOUT_MS = 10_000;

/**
 * Starts the OpenTelemetry SDK: a tracer provider with the W3C trace-context propagator and an
 * AsyncLocalStorage context manager, exporting over OTLP/HTTP (protobuf or JSON). main.ts calls it
 * before building the app; tests call it with their own exporter. Our spans are made by hand at
 * our boundaries (tracing.ts), so nothing needs to be loaded before this (see ADR 0021).
 */
export function startTracing(
  config: TracingConfig,
  serviceVersion: string,
  exporter?: SpanExporter,
): Tracing {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      'service.name': config.serviceName,
      'service.version': serviceVersion,
    }),
    sampler: samplerOf(config),
    spanProcessors: [
      new BatchSpanProcessor(exporter ?? exporterOf(config), {
        scheduledDelayMillis: config.batchDelayMs,
        maxQueueSize: SPAN_QUEUE_SIZE_MAX,
        maxExportBatchSize: EXPORT_BATCH_SIZE_MAX,
        exportTimeoutMillis: EXPORT_TIMEOUT_MS,
      }),
    ],
  });
  provider.register();
  setTracingEnabled(true);
  return {
    flush: () => provider.forceFlush(),
    async shutdown() {
      setTracingEnabled(false);
      await provider.shutdown();
    },
  };
}

function exporterOf(config: TracingConfig): SpanExporter {
  const options = { url: config.tracesUrl, timeoutMillis: EXPORT_TIMEOUT_MS };
  return config.protocol === 'http/json' ? new OtlpJsonExporter(options) : new OtlpProtobufExporter(options);
}

function samplerOf(config: TracingConfig): Sampler {
  switch (config.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(config.samplerRatio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.samplerRatio) });
  }
}
