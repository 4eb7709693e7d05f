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

  it('keeps the default TTL within the maximum', () => {
    expect(() =>
      loadConfig({ RESERVATION_TTL_MAX_SECONDS: '60', RESERVATION_TTL_DEFAULT_SECONDS: '600' }),
    ).toThrow(ConfigError);
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
