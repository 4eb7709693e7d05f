import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '../../src/platform/http/pagination.js';
import {
  createTestDatabase,
  describeOnEachDatabase,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

/** OWASP API8:2023 Security Misconfiguration: secure headers, CORS, error bodies, methods, docs. */

/** helmet's headers for HTML documents, which an API's JSON answers leave out (ADR 0037). */
const DOCUMENT_ONLY_HEADERS = [
  'cross-origin-opener-policy',
  'origin-agent-cluster',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
];

const ALLOWED_ORIGIN = 'https://shop.example.com';

describeOnEachDatabase(
  'API8 secure defaults',
  (harness) => {
    it('API8: sends the security headers of an API and no X-Powered-By', async () => {
      const response = await harness().request('GET', '/api/v1/products');
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(response.headers['content-security-policy']).toContain("default-src 'none'");
      expect(response.headers['x-frame-options']).toBe('DENY');
      expect(response.headers['strict-transport-security']).toMatch(/max-age=\d+; includeSubDomains/);
      expect(response.headers['referrer-policy']).toBe('no-referrer');
      expect(response.headers['cross-origin-resource-policy']).toBe('same-origin');
      // Headers that govern documents only are left to the one page the server answers (/docs).
      for (const name of DOCUMENT_ONLY_HEADERS) expect(response.headers[name], name).toBeUndefined();
      expect(response.headers['x-powered-by']).toBeUndefined();
      expect(response.headers.server).toBeUndefined();
      // Errors and unknown routes carry them too.
      for (const url of ['/api/v1/products/00000000-0000-4000-8000-000000000000', '/no-such-route']) {
        const refused = await harness().request('GET', url);
        expect(refused.status, url).toBe(404);
        expect(refused.headers['content-security-policy'], url).toContain("default-src 'none'");
        expect(refused.headers['x-content-type-options'], url).toBe('nosniff');
      }
    });

    it('API8: marks responses to authenticated requests Cache-Control: no-store, errors included', async () => {
      const { request } = harness();
      expect((await request('GET', '/api/v1/products')).headers['cache-control']).toBe('no-store');
      const missing = await request('GET', '/api/v1/reservations/0190a0e2-0000-7000-8000-000000000001');
      expect(missing.status).toBe(404);
      expect(missing.headers['cache-control']).toBe('no-store');
      expect(
        (await request('GET', '/api/v1/products', { key: null })).headers['cache-control'],
      ).toBeUndefined();
    });

    it('API8: refuses cross-origin browser calls from origins not on the allowlist', async () => {
      const { request } = harness();
      const preflight = await request('OPTIONS', '/api/v1/products', {
        key: null,
        headers: {
          origin: 'https://evil.example.net',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'x-api-key, content-type',
        },
      });
      expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
      const simple = await request('GET', '/api/v1/products', {
        headers: { origin: 'https://evil.example.net' },
      });
      expect(simple.headers['access-control-allow-origin']).toBeUndefined();

      const allowed = await request('OPTIONS', '/api/v1/products', {
        key: null,
        headers: { origin: ALLOWED_ORIGIN, 'access-control-request-method': 'POST' },
      });
      expect(allowed.status).toBe(204);
      expect(allowed.headers['access-control-allow-origin']).toBe(ALLOWED_ORIGIN);
      expect(allowed.headers['access-control-allow-credentials']).toBeUndefined();
    });

    it('API8: a value that breaks the SQL is a 400 problem without SQL, stack or internals', async () => {
      const { request } = harness();
      const store = await harness().createStore();
      const cursor = encodeCursor([`not-a-uuid-${'x'.repeat(2000)}`.slice(0, 300)]);
      const response = await request('GET', `/api/v1/reservations/store/${store}/pending?cursor=${cursor}`);
      expect(response.status).toBe(400);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.body.code).toBe('BAD_REQUEST');
      const text = JSON.stringify(response.body);
      for (const leak of ['uuid', 'SELECT', 'syntax', 'node_modules', '.ts:', 'at ', 'stack', 'pg']) {
        expect(text, leak).not.toContain(leak);
      }
    });

    it('API8: answers TRACE and unknown methods with a problem, never echoing the request', async () => {
      const { app } = harness();
      for (const method of ['TRACE', 'PROPFIND', 'CONNECT']) {
        const response = await app.server.inject({
          method: method as 'GET',
          url: '/api/v1/products',
          headers: { 'x-api-key': 'echo-me-0123456789abcdef', cookie: 'secret=echo-me' },
        });
        expect(response.statusCode, method).toBeGreaterThanOrEqual(400);
        expect(response.statusCode, method).toBeLessThan(500);
        expect(response.body, method).not.toContain('echo-me');
      }
    });

    it('API8: serves /openapi.json and /docs to anyone, with security schemes, the UI under its own CSP', async () => {
      const { request } = harness();
      const document = await request('GET', '/openapi.json', { key: null });
      expect(document.status).toBe(200);
      expect(Object.keys(document.body.components.securitySchemes).sort()).toEqual([
        'apiKey',
        'bearer',
        'operatorKey',
      ]);
      expect(document.body.components.securitySchemes.bearer).toMatchObject({
        scheme: 'bearer',
        bearerFormat: 'JWT',
      });
      const ui = await request('GET', '/docs/', { key: null });
      expect(ui.status).toBe(200);
      expect(ui.headers['content-security-policy']).not.toContain("default-src 'none'");
      expect(ui.headers['x-frame-options']).toBe('DENY');
      for (const name of DOCUMENT_ONLY_HEADERS) expect(ui.headers[name], name).toBeDefined();
    });
  },
  { corsAllowedOrigins: [ALLOWED_ORIGIN] },
);

describe('API8 CORS default', () => {
  let harness: TestApp;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const created = await createTestDatabase('pglite');
    drop = created.drop;
    harness = await startTestApp('pglite', created.database);
  });
  afterAll(async () => {
    await harness.app.close();
    await drop();
  });

  it('API8: allows no origin at all unless CORS_ALLOWED_ORIGINS names it', async () => {
    const preflight = await harness.request('OPTIONS', '/api/v1/products', {
      key: null,
      headers: { origin: ALLOWED_ORIGIN, 'access-control-request-method': 'GET' },
    });
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    const simple = await harness.request('GET', '/api/v1/products', { headers: { origin: ALLOWED_ORIGIN } });
    expect(simple.status).toBe(200);
    expect(
      Object.keys(simple.headers).filter((name) => name.startsWith('access-control-') || name === 'vary'),
    ).toEqual([]);
  });
});
