import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/platform/logger.js';
import {
  createTestDatabase,
  type DatabaseKind,
  postgresAvailable,
  resetTenantData,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';
import { resetWebhooks, WebhookReceiver, waitUntil } from '../webhooks/webhook-receiver.js';

/** Collects what the logger writes, one parsed JSON object per line. */
class LogCapture extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  raw = '';

  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    const text = chunk.toString('utf8');
    this.raw += text;
    for (const line of text.split('\n')) if (line.trim() !== '') this.lines.push(JSON.parse(line));
    done();
  }
}

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

for (const kind of ['pglite', 'postgres'] as DatabaseKind[]) {
  describe.skipIf(kind === 'postgres' && !postgresAvailable())(`structured logs [${kind}]`, () => {
    const capture = new LogCapture();
    let harness: TestApp;
    let drop: () => Promise<void>;
    beforeAll(async () => {
      const created = await createTestDatabase(kind);
      drop = created.drop;
      harness = await startTestApp(
        kind,
        created.database,
        { webhookAllowPrivateTargets: true },
        undefined,
        createLogger('info', capture),
      );
    });
    afterAll(async () => {
      await harness.app.close();
      await drop();
    });
    beforeEach(async () => {
      await resetTenantData(harness.db);
      await resetWebhooks(harness.db);
      capture.lines.length = 0;
    });

    it('writes one line per request with method, route template, status, duration, tenant, request and trace ids', async () => {
      const store = await harness.createStore();
      capture.lines.length = 0;
      const response = await harness.request('GET', `/api/v1/stores/${store}`, {
        headers: { 'x-request-id': 'req-abc-123', traceparent: TRACEPARENT },
      });
      expect(response.status).toBe(200);
      expect(response.headers['x-request-id']).toBe('req-abc-123');
      const lines = capture.lines.filter((line) => line['msg'] === 'request completed');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        level: 30,
        method: 'GET',
        route: '/api/v1/stores/:storeId',
        status_code: 200,
        tenant: 'default',
        request_id: 'req-abc-123',
        trace_id: TRACE_ID,
        service: 'omnistock',
      });
      expect(typeof lines[0]?.['duration_ms']).toBe('number');
      expect(JSON.stringify(lines[0])).not.toContain(store);
    });

    it('keeps probes and scrapes out of the info log', async () => {
      for (const path of ['/health', '/ready', '/metrics']) {
        expect((await harness.request('GET', path, { key: null })).status).toBe(200);
      }
      await harness.request('GET', '/api/v1/stores');
      const routes = capture.lines
        .filter((line) => line['msg'] === 'request completed')
        .map((line) => line['route']);
      expect(routes).toEqual(['/api/v1/stores']);
    });

    it('replaces an unsafe X-Request-Id with a generated one, and echoes that', async () => {
      const response = await harness.request('GET', '/api/v1/stores', {
        headers: { 'x-request-id': 'has spaces and "quotes"' },
      });
      const generated = String(response.headers['x-request-id']);
      expect(generated).toMatch(/^[0-9a-f-]{36}$/);
      const line = capture.lines.find((candidate) => candidate['msg'] === 'request completed');
      expect(line?.['request_id']).toBe(generated);
      expect(line?.['trace_id']).toBeUndefined();
    });

    it('logs a consumer (the webhook worker) under the request correlation and trace ids', async () => {
      harness.app.webhooks.retune({ retryScheduleMs: [10] });
      const target = await WebhookReceiver.start();
      target.answer = () => 500;
      try {
        const registered = await harness.request('POST', '/api/v1/webhooks', {
          body: { url: target.url, event_types: ['stock.created'] },
        });
        expect(registered.status).toBe(201);
        const store = await harness.createStore();
        const product = await harness.createProduct();
        const stocked = await harness.request('POST', '/api/v1/stock', {
          body: { product_id: product.id, store_id: store, quantity: 3 },
          headers: { 'x-request-id': 'req-stock-1', traceparent: TRACEPARENT },
        });
        expect(stocked.status).toBe(201);
        const isDead = (line: Record<string, unknown>) =>
          String(line['msg']).startsWith('webhook delivery is dead');
        await waitUntil('the delivery is dead', () => capture.lines.some(isDead));
        const dead = capture.lines.find(isDead);
        expect(dead).toMatchObject({ correlation_id: 'req-stock-1', trace_id: TRACE_ID, tenant: 'default' });
        // The receiver got the caller's trace context, passed through even with tracing off.
        expect(target.requests[0]?.headers['traceparent']).toBe(TRACEPARENT);
      } finally {
        harness.app.webhooks.retune({ retryScheduleMs: [60_000] });
        await target.close();
      }
    });

    it('never writes credentials: API keys, authorization, cookies, passwords, refresh tokens, webhook secrets', async () => {
      const created = await harness.request('POST', '/api/v1/webhooks', {
        body: { url: 'http://127.0.0.1:9/hooks', event_types: ['stock.created'] },
        headers: { cookie: 'session=cookie-value-1' },
      });
      expect(created.status).toBe(201);
      const webhookSecret = String(created.body.secret);
      await harness.request('GET', '/api/v1/stores', { key: 'wrong-key-value-0123456789' });
      const logger = createLogger('info', capture);
      logger.info(
        {
          req: {
            headers: {
              authorization: 'Bearer bearer-value-1',
              'x-api-key': 'api-key-value-1',
              cookie: 'c=1',
            },
          },
          password: 'password-value-1',
          user: { password: 'password-value-2', refresh_token: 'refresh-value-1' },
          body: { credentials: { refresh_token: 'refresh-value-2' } },
          webhook: { secret: 'whsec_value-1', secrets: ['whsec_value-2'] },
        },
        'something with secrets',
      );
      const written = capture.raw;
      expect(written).toContain('something with secrets');
      expect(written).toContain('[redacted]');
      for (const secret of [
        'test-admin-key',
        'wrong-key-value',
        'cookie-value-1',
        webhookSecret,
        'bearer-value-1',
        'api-key-value-1',
        'c=1',
        'password-value-',
        'refresh-value-',
        'whsec_value-',
      ]) {
        expect(written).not.toContain(secret);
      }
    });
  });
}
