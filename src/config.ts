/**
 * Configuration comes from the environment only (12-factor) and is validated once at start:
 * every bad value is reported, with what was expected, before anything else runs.
 * docs/operations.md lists every option.
 */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  databasePoolSizeMax: number;
  databaseStatementTimeoutMs: number;
  logLevel: LogLevel;
  adminApiKey: string | undefined;
  defaultTenantId: string;
  demoData: boolean;
  bodyLimitBytes: number;
  requestTimeoutMs: number;
  reservationTtlDefaultSeconds: number;
  reservationTtlMaxSeconds: number;
  idempotencyRetentionSeconds: number;
  brokerUrl: string | undefined;
  redisUrl: string | undefined;
  outboxBatchSizeMax: number;
  outboxSweepIntervalMs: number;
  brokerPublishTimeoutMs: number;
  brokerRetryDelayMaxMs: number;
  brokerBreakerHalfOpenAfterMs: number;
  cacheTtlSeconds: number;
  sseClientsMax: number;
  webhookAllowPrivateTargets: boolean;
  webhookTimeoutMs: number;
  eventRetentionDays: number;
  /** OpenTelemetry tracing; undefined (off) unless an OTLP endpoint is configured. */
  tracing: TracingConfig | undefined;
}

export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export const TRACE_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

/** The standard OTEL_* variables we honour; the OTLP exporter also reads OTEL_EXPORTER_OTLP_HEADERS itself. */
export interface TracingConfig {
  /** Where spans are POSTed: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces. */
  tracesUrl: string;
  protocol: (typeof OTLP_PROTOCOLS)[number];
  serviceName: string;
  sampler: (typeof TRACE_SAMPLERS)[number];
  /** The ratio of the *traceidratio samplers, 0 to 1. */
  samplerRatio: number;
  /** OTEL_BSP_SCHEDULE_DELAY: how long finished spans wait to be batched. */
  batchDelayMs: number;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
}

type Environment = Readonly<Record<string, string | undefined>>;

export function loadConfig(environment: Environment = process.env): Config {
  const reader = new EnvironmentReader(environment);
  const reservationTtlMaxSeconds = reader.integer('RESERVATION_TTL_MAX_SECONDS', 3600, 1, 86_400);
  const databaseUrl = reader.optionalUrl('DATABASE_URL', ['postgres:', 'postgresql:']);
  const config: Config = {
    port: reader.integer('PORT', 8080, 0, 65_535),
    host: reader.string('HOST', '0.0.0.0'),
    dataDir: reader.string('DATA_DIR', './data'),
    databaseUrl,
    databasePoolSizeMax: reader.integer('DATABASE_POOL_SIZE_MAX', 20, 1, 500),
    databaseStatementTimeoutMs: reader.integer('DATABASE_STATEMENT_TIMEOUT_MS', 5_000, 100, 600_000),
    logLevel: reader.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
    adminApiKey: reader.optionalSecret('OMNISTOCK_ADMIN_API_KEY', 24),
    defaultTenantId: reader.matching(
      'DEFAULT_TENANT_ID',
      'default',
      /^[a-z0-9][a-z0-9-]{1,49}$/,
      'a tenant id: 2-50 of a-z, 0-9 and -',
    ),
    // Demo stores and products make the embedded default useful at once; a real server starts empty.
    demoData: reader.boolean('DEMO_DATA', databaseUrl === undefined),
    bodyLimitBytes: reader.integer('BODY_LIMIT_BYTES', 64 * 1024, 1024, 10 * 1024 * 1024),
    requestTimeoutMs: reader.integer('REQUEST_TIMEOUT_MS', 30_000, 1_000, 600_000),
    reservationTtlDefaultSeconds: reader.integer(
      'RESERVATION_TTL_DEFAULT_SECONDS',
      600,
      1,
      reservationTtlMaxSeconds,
    ),
    reservationTtlMaxSeconds,
    idempotencyRetentionSeconds: reader.integer(
      'IDEMPOTENCY_RETENTION_SECONDS',
      24 * 3600,
      24 * 3600,
      30 * 24 * 3600,
    ),
    brokerUrl: reader.optionalUrl('BROKER_URL', ['nats:', 'redis:', 'rediss:', 'amqp:', 'amqps:']),
    redisUrl: reader.optionalUrl('REDIS_URL', ['redis:', 'rediss:']),
    outboxBatchSizeMax: reader.integer('OUTBOX_BATCH_SIZE_MAX', 500, 1, 10_000),
    outboxSweepIntervalMs: reader.integer('OUTBOX_SWEEP_INTERVAL_MS', 30_000, 1_000, 3_600_000),
    brokerPublishTimeoutMs: reader.integer('BROKER_PUBLISH_TIMEOUT_MS', 5_000, 100, 60_000),
    brokerRetryDelayMaxMs: reader.integer('BROKER_RETRY_DELAY_MAX_MS', 30_000, 100, 600_000),
    brokerBreakerHalfOpenAfterMs: reader.integer('BROKER_BREAKER_HALF_OPEN_AFTER_MS', 5_000, 100, 600_000),
    cacheTtlSeconds: reader.integer('CACHE_TTL_SECONDS', 30, 1, 3_600),
    sseClientsMax: reader.integer('SSE_CLIENTS_MAX', 1_000, 1, 100_000),
    webhookAllowPrivateTargets: reader.boolean('WEBHOOK_ALLOW_PRIVATE_TARGETS', false),
    webhookTimeoutMs: reader.integer('WEBHOOK_TIMEOUT_MS', 10_000, 100, 60_000),
    eventRetentionDays: reader.integer('EVENT_RETENTION_DAYS', 30, 1, 3_650),
    tracing: readTracing(reader),
  };
  if (reader.problems.length > 0) throw new ConfigError(reader.problems);
  return config;
}

function readTracing(reader: EnvironmentReader): TracingConfig | undefined {
  const tracesEndpoint = reader.optionalUrl('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', ['http:', 'https:']);
  const endpoint = reader.optionalUrl('OTEL_EXPORTER_OTLP_ENDPOINT', ['http:', 'https:']);
  const protocol = reader.oneOf(
    'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
    OTLP_PROTOCOLS,
    reader.oneOf('OTEL_EXPORTER_OTLP_PROTOCOL', OTLP_PROTOCOLS, 'http/protobuf'),
  );
  const sampler = reader.oneOf('OTEL_TRACES_SAMPLER', TRACE_SAMPLERS, 'parentbased_always_on');
  const samplerRatio = reader.ratio('OTEL_TRACES_SAMPLER_ARG', 1);
  const batchDelayMs = reader.integer('OTEL_BSP_SCHEDULE_DELAY', 5_000, 0, 600_000);
  const serviceName = reader.string('OTEL_SERVICE_NAME', 'omnistock');
  // OTEL_SDK_DISABLED=true turns tracing off whatever else is set, as the specification says.
  if (reader.boolean('OTEL_SDK_DISABLED', false)) return undefined;
  const tracesUrl =
    tracesEndpoint ?? (endpoint === undefined ? undefined : `${endpoint.replace(/\/+$/, '')}/v1/traces`);
  if (tracesUrl === undefined) return undefined;
  return { tracesUrl, protocol, serviceName, sampler, samplerRatio, batchDelayMs };
}

class EnvironmentReader {
  readonly problems: string[] = [];

  constructor(private readonly environment: Environment) {}

  private raw(name: string): string | undefined {
    const value = this.environment[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  integer(name: string, fallback: number, minimum: number, maximum: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(parsed) || parsed < minimum || parsed > maximum) {
      this.problems.push(`${name}=${value}: expected a whole number from ${minimum} to ${maximum}`);
      return fallback;
    }
    return parsed;
  }

  ratio(name: string, fallback: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
    if (!(parsed >= 0 && parsed <= 1)) {
      this.problems.push(`${name}=${value}: expected a number from 0 to 1`);
      return fallback;
    }
    return parsed;
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.raw(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (['true', '1', 'yes'].includes(value)) return true;
    if (['false', '0', 'no'].includes(value)) return false;
    this.problems.push(`${name}=${value}: expected true or false`);
    return fallback;
  }

  oneOf<const T extends readonly string[]>(name: string, allowed: T, fallback: T[number]): T[number] {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T[number];
    this.problems.push(`${name}=${value}: expected one of ${allowed.join(', ')}`);
    return fallback;
  }

  matching(name: string, fallback: string, pattern: RegExp, expected: string): string {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (pattern.test(value)) return value;
    this.problems.push(`${name}=${value}: expected ${expected}`);
    return fallback;
  }

  optionalUrl(name: string, protocols: string[]): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    let protocol: string | undefined;
    try {
      protocol = new URL(value).protocol;
    } catch {
      protocol = undefined;
    }
    if (protocol === undefined || !protocols.includes(protocol)) {
      // The value may hold a password: name the variable, not its content.
      this.problems.push(
        `${name}: expected a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
      );
      return undefined;
    }
    return value;
  }

  optionalSecret(name: string, minimumLength: number): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    if (value.length < minimumLength || value.length > 512 || /\s/.test(value)) {
      this.problems.push(`${name}: expected ${minimumLength} to 512 characters without spaces`);
      return undefined;
    }
    return value;
  }
}
