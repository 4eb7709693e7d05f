import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('configuration from the environment', () => {
  it('has working defaults: port 8080, ./data, embedded database', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8080,
      dataDir: './data',
      databaseUrl: undefined,
      logLevel: 'info',
      defaultTenantId: 'default',
    });
    expect(config.reservationTtlDefaultSeconds).toBe(600);
  });

  it('reads and converts every value', () => {
    const config = loadConfig({
      PORT: '9090',
      DATA_DIR: '/var/lib/omnistock',
      DATABASE_URL: 'postgres://app:secret@db:5432/omnistock',
      SECRETS_ENCRYPTION_KEYS: `k2:${Buffer.alloc(32, 2).toString('base64')},k1:${Buffer.alloc(32, 1).toString('base64')}`,
      LOG_LEVEL: 'debug',
      OMNISTOCK_ADMIN_API_KEY: 'a-long-enough-admin-key-000',
      DEMO_DATA: 'false',
    });
    expect(config).toMatchObject({
      port: 9090,
      dataDir: '/var/lib/omnistock',
      logLevel: 'debug',
      demoData: false,
    });
    expect(config.databaseUrl).toBe('postgres://app:secret@db:5432/omnistock');
  });

  it('reports every bad value at once, without echoing secrets', () => {
    let error: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        LOG_LEVEL: 'loud',
        DATABASE_URL: 'mysql://u:hunter2@x/db',
        OMNISTOCK_ADMIN_API_KEY: 'short',
        DEMO_DATA: 'maybe',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(5);
    expect(problems.join('\n')).toMatch(/PORT=eighty: expected a whole number from 0 to 65535/);
    expect(problems.join('\n')).toMatch(/LOG_LEVEL=loud: expected one of/);
    expect(problems.join('\n')).not.toContain('hunter2');
    expect(problems.join('\n')).not.toContain('short');
  });

  it('requires encryption keys with a server database, and reads them strictly without echoing them', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://db/omnistock' })).toThrow(
      /SECRETS_ENCRYPTION_KEYS: required with DATABASE_URL/,
    );
    expect(loadConfig({}).secretsEncryptionKeys).toBeUndefined();
    const short = Buffer.alloc(16, 9).toString('base64');
    let problem = '';
    try {
      loadConfig({ SECRETS_ENCRYPTION_KEYS: `k1:${short}` });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      problem = String(error);
    }
    expect(problem).toMatch(/SECRETS_ENCRYPTION_KEYS: key k1: expected the base64 of exactly 32 bytes/);
    expect(problem).not.toContain(short);
    const keys = loadConfig({ SECRETS_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}` });
    expect(keys.secretsEncryptionKeys?.map((key) => key.id)).toEqual(['k1']);
  });

  it('keeps the default TTL within the maximum', () => {
    expect(() =>
      loadConfig({ RESERVATION_TTL_MAX_SECONDS: '60', RESERVATION_TTL_DEFAULT_SECONDS: '600' }),
    ).toThrow(ConfigError);
  });

  it('has secure abuse defaults and reads the limits, 0 turning one off', () => {
    expect(loadConfig({})).toMatchObject({
      rateLimitPerIpPerMin: 100,
      rateLimitPerKeyPerMin: 500,
      rateLimitPerTenantPerMin: 5_000,
      corsAllowedOrigins: [],
      trustProxyHops: 0,
      headersTimeoutMs: 10_000,
    });
    const config = loadConfig({
      RATE_LIMIT_PER_IP_PER_MIN: '0',
      CORS_ALLOWED_ORIGINS: 'https://shop.example.com, http://localhost:5173',
      REQUEST_TIMEOUT_MS: '5000',
    });
    expect(config.rateLimitPerIpPerMin).toBe(0);
    expect(config.corsAllowedOrigins).toEqual(['https://shop.example.com', 'http://localhost:5173']);
    expect(config.headersTimeoutMs).toBe(5_000);
  });

  it('refuses origins that are not bare origins, and a headers timeout above the request timeout', () => {
    expect(() => loadConfig({ CORS_ALLOWED_ORIGINS: 'https://shop.example.com/path' })).toThrow(ConfigError);
    expect(() => loadConfig({ CORS_ALLOWED_ORIGINS: '*' })).toThrow(ConfigError);
    expect(() => loadConfig({ REQUEST_TIMEOUT_MS: '5000', HEADERS_TIMEOUT_MS: '6000' })).toThrow(ConfigError);
  });

  it('reads the JWT keys as PEM (with \\n escapes) or JWK, and refuses other key types without echoing them', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const escaped = loadConfig({ JWT_PRIVATE_KEY: pem.replaceAll('\n', '\\n') });
    expect(escaped.jwtPrivateKey?.asymmetricKeyType).toBe('ed25519');
    const jwk = loadConfig({ JWT_PREVIOUS_PUBLIC_KEY: JSON.stringify(publicKey.export({ format: 'jwk' })) });
    expect(jwk.jwtPreviousPublicKey?.asymmetricKeyType).toBe('ed25519');
    expect(loadConfig({}).accessTokenTtlSeconds).toBe(900);

    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    for (const value of [rsa.toString(), 'not a key', '{"kty":"OKP"}']) {
      let error: unknown;
      try {
        loadConfig({ JWT_PRIVATE_KEY: value });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toContain('JWT_PRIVATE_KEY: expected an Ed25519 private key');
      expect((error as ConfigError).message).not.toContain(value);
    }
  });
});

describe('tracing configuration (the standard OTEL_* variables)', () => {
  it('is off without an OTLP endpoint', () => {
    expect(loadConfig({}).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_on' }).tracing).toBeUndefined();
  });

  it('sends to <endpoint>/v1/traces, or exactly to the traces endpoint, which wins', () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing).toEqual({
      tracesUrl: 'http://collector:4318/v1/traces',
      protocol: 'http/protobuf',
      serviceName: 'omnistock',
      sampler: 'parentbased_always_on',
      samplerRatio: 1,
      batchDelayMs: 5_000,
    });
    const tracing = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example.com/otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'omnistock-eu',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_BSP_SCHEDULE_DELAY: '200',
    }).tracing;
    expect(tracing).toEqual({
      tracesUrl: 'https://traces.example.com/otlp',
      protocol: 'http/json',
      serviceName: 'omnistock-eu',
      sampler: 'parentbased_traceidratio',
      samplerRatio: 0.25,
      batchDelayMs: 200,
    });
  });

  it('is off with OTEL_SDK_DISABLED=true, whatever else is set', () => {
    expect(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }).tracing,
    ).toBeUndefined();
  });

  it('refuses unsupported protocols, unknown samplers and ratios outside 0 to 1', () => {
    let error: unknown;
    try {
      loadConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_TRACES_SAMPLER: 'sometimes',
        OTEL_TRACES_SAMPLER_ARG: '1.5',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/OTEL_EXPORTER_OTLP_ENDPOINT: expected a URL/);
    expect(problems).toMatch(/OTEL_EXPORTER_OTLP_PROTOCOL=grpc: expected one of http\/protobuf, http\/json/);
    expect(problems).toMatch(/OTEL_TRACES_SAMPLER=sometimes/);
    expect(problems).toMatch(/OTEL_TRACES_SAMPLER_ARG=1.5: expected a number from 0 to 1/);
  });
});
