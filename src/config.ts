import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { parseSecretKeys, SecretBoxError, type SecretKey } from './platform/security/secret-box.js';

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
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  httpConnectionsMax: number;
  trustProxyHops: number;
  corsAllowedOrigins: string[];
  rateLimitPerIpPerMin: number;
  rateLimitPerKeyPerMin: number;
  rateLimitPerTenantPerMin: number;
  reservationCustomerUnitsPerProductMax: number;
  reservationCustomerOpenMax: number;
  reservationTtlDefaultSeconds: number;
  reservationTtlMaxSeconds: number;
  idempotencyRetentionSeconds: number;
  brokerUrl: string | undefined;
  redisUrl: string | undefined;
  outboxBatchSizeMax: number;
  outboxSweepIntervalMs: number;
  outboxSequenceIntervalMinMs: number;
  outboxWatermarkIntervalMinMs: number;
  brokerPublishTimeoutMs: number;
  brokerRetryDelayMaxMs: number;
  brokerBreakerHalfOpenAfterMs: number;
  cacheTtlSeconds: number;
  sseClientsMax: number;
  webhookAllowPrivateTargets: boolean;
  webhookTimeoutMs: number;
  eventRetentionDays: number;
  loadShedEventLoopDelayMaxMs: number;
  /** SECRETS_ENCRYPTION_KEYS; unset only on the embedded default, which keeps a key file in DATA_DIR. */
  secretsEncryptionKeys: SecretKey[] | undefined;
  /** The platform operator's key for POST /api/v1/tenants; unset disables those routes. */
  operatorApiKey: string | undefined;
  /** Ed25519 private key (PKCS8 PEM or JWK JSON) signing access tokens; unset: one kept in DATA_DIR. */
  jwtPrivateKey: KeyObject | undefined;
  /** The public key that signed tokens before the last rotation, still accepted and published. */
  jwtPreviousPublicKey: KeyObject | undefined;
  jwtIssuer: string;
  jwtAudience: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
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
  const requestTimeoutMs = reader.integer('REQUEST_TIMEOUT_MS', 30_000, 1_000, 600_000);
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
    requestTimeoutMs,
    // Slow-loris: headers must arrive whole within this, however slowly the bytes trickle in.
    headersTimeoutMs: reader.integer(
      'HEADERS_TIMEOUT_MS',
      Math.min(10_000, requestTimeoutMs),
      100,
      requestTimeoutMs,
    ),
    // Above the load balancer's idle timeout (60 s on most), or it reuses sockets we just closed.
    keepAliveTimeoutMs: reader.integer('KEEP_ALIVE_TIMEOUT_MS', 72_000, 1_000, 600_000),
    httpConnectionsMax: reader.integer('HTTP_CONNECTIONS_MAX', 10_000, 1, 1_000_000),
    trustProxyHops: reader.integer('TRUST_PROXY_HOPS', 0, 0, 10),
    corsAllowedOrigins: reader.origins('CORS_ALLOWED_ORIGINS'),
    rateLimitPerIpPerMin: reader.integer('RATE_LIMIT_PER_IP_PER_MIN', 100, 0, 1_000_000),
    rateLimitPerKeyPerMin: reader.integer('RATE_LIMIT_PER_KEY_PER_MIN', 500, 0, 1_000_000),
    // Ten busy integrations' worth: one tenant cannot take an instance from the others.
    rateLimitPerTenantPerMin: reader.integer('RATE_LIMIT_PER_TENANT_PER_MIN', 5_000, 0, 10_000_000),
    reservationCustomerUnitsPerProductMax: reader.integer(
      'RESERVATION_CUSTOMER_UNITS_PER_PRODUCT_MAX',
      100,
      1,
      1_000_000,
    ),
    reservationCustomerOpenMax: reader.integer('RESERVATION_CUSTOMER_OPEN_MAX', 100, 1, 100_000),
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
    outboxSequenceIntervalMinMs: reader.integer('OUTBOX_SEQUENCE_INTERVAL_MIN_MS', 5, 0, 1_000),
    outboxWatermarkIntervalMinMs: reader.integer('OUTBOX_WATERMARK_INTERVAL_MIN_MS', 100, 0, 60_000),
    brokerPublishTimeoutMs: reader.integer('BROKER_PUBLISH_TIMEOUT_MS', 5_000, 100, 60_000),
    brokerRetryDelayMaxMs: reader.integer('BROKER_RETRY_DELAY_MAX_MS', 30_000, 100, 600_000),
    brokerBreakerHalfOpenAfterMs: reader.integer('BROKER_BREAKER_HALF_OPEN_AFTER_MS', 5_000, 100, 600_000),
    cacheTtlSeconds: reader.integer('CACHE_TTL_SECONDS', 30, 1, 3_600),
    sseClientsMax: reader.integer('SSE_CLIENTS_MAX', 1_000, 1, 100_000),
    webhookAllowPrivateTargets: reader.boolean('WEBHOOK_ALLOW_PRIVATE_TARGETS', false),
    webhookTimeoutMs: reader.integer('WEBHOOK_TIMEOUT_MS', 10_000, 100, 60_000),
    eventRetentionDays: reader.integer('EVENT_RETENTION_DAYS', 30, 1, 3_650),
    // 0 turns shedding off; below ~50 ms ordinary garbage collection would trip it.
    loadShedEventLoopDelayMaxMs: reader.integerOrOff('LOAD_SHED_EVENT_LOOP_DELAY_MS', 500, 50, 60_000),
    secretsEncryptionKeys: reader.secretKeys('SECRETS_ENCRYPTION_KEYS'),
    operatorApiKey: reader.optionalSecret('OMNISTOCK_OPERATOR_API_KEY', 24),
    jwtPrivateKey: reader.optionalKey('JWT_PRIVATE_KEY', 'private'),
    jwtPreviousPublicKey: reader.optionalKey('JWT_PREVIOUS_PUBLIC_KEY', 'public'),
    jwtIssuer: reader.matching(
      'JWT_ISSUER',
      'omnistock',
      /^[\x21-\x7e]{1,200}$/,
      '1-200 printable characters',
    ),
    jwtAudience: reader.matching(
      'JWT_AUDIENCE',
      'omnistock-api',
      /^[\x21-\x7e]{1,200}$/,
      '1-200 printable characters',
    ),
    accessTokenTtlSeconds: reader.integer('ACCESS_TOKEN_TTL_SECONDS', 900, 60, 3_600),
    refreshTokenTtlSeconds: reader.integer(
      'REFRESH_TOKEN_TTL_SECONDS',
      30 * 24 * 3600,
      3_600,
      90 * 24 * 3600,
    ),
    tracing: readTracing(reader),
  };
  // A key generated on one instance's disk would leave the others unable to open what it sealed.
  if (
    databaseUrl !== undefined &&
    config.secretsEncryptionKeys === undefined &&
    !reader.hasProblemWith('SECRETS_ENCRYPTION_KEYS')
  ) {
    reader.problems.push(
      'SECRETS_ENCRYPTION_KEYS: required with DATABASE_URL (every instance needs the same keys); ' +
        'e.g. k1:<base64 of 32 random bytes>, from `openssl rand -base64 32`',
    );
  }
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

  /** A whole number in range, or 0 for "off". */
  integerOrOff(name: string, fallback: number, minimum: number, maximum: number): number {
    if (this.raw(name) === '0') return 0;
    return this.integer(name, fallback, minimum, maximum);
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

  hasProblemWith(name: string): boolean {
    return this.problems.some((problem) => problem.startsWith(`${name}:`));
  }

  /** A key list; the message names what is wrong, never the key material. */
  secretKeys(name: string): SecretKey[] | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    try {
      return parseSecretKeys(value);
    } catch (error) {
      const reason = error instanceof SecretBoxError ? error.message : 'unreadable';
      this.problems.push(`${name}: ${reason}; expected <id>:<base64 of 32 bytes>[,<id>:<base64>…]`);
      return undefined;
    }
  }

  /** A comma-separated list of exact origins (`https://shop.example.com`); none by default. */
  origins(name: string): string[] {
    const value = this.raw(name);
    if (value === undefined) return [];
    const origins = value
      .split(',')
      .map((origin) => origin.trim())
      .filter((origin) => origin !== '');
    for (const origin of origins) {
      let parsed: URL | undefined;
      try {
        parsed = new URL(origin);
      } catch {
        parsed = undefined;
      }
      if (
        parsed === undefined ||
        !['http:', 'https:'].includes(parsed.protocol) ||
        parsed.origin !== origin
      ) {
        this.problems.push(`${name}: "${origin}" is not an origin like https://shop.example.com`);
      }
    }
    return origins;
  }

  /**
   * An Ed25519 key as PEM (PKCS8 private or SPKI public; `\n` escapes allowed, since environment
   * files rarely hold newlines) or as a JWK JSON object.
   */
  optionalKey(name: string, kind: 'private' | 'public'): KeyObject | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    let key: KeyObject | undefined;
    try {
      if (value.startsWith('{')) {
        const jwk = JSON.parse(value) as JsonWebKey;
        key =
          kind === 'private'
            ? createPrivateKey({ key: jwk, format: 'jwk' })
            : createPublicKey({ key: jwk, format: 'jwk' });
      } else {
        const pem = value.replaceAll('\\n', '\n');
        key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
      }
    } catch {
      key = undefined;
    }
    if (key === undefined || key.asymmetricKeyType !== 'ed25519') {
      // Never echo the value: it is a secret.
      this.problems.push(`${name}: expected an Ed25519 ${kind} key as PEM or JWK`);
      return undefined;
    }
    return key;
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
