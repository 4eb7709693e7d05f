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
