import { beforeEach, expect, it } from 'vitest';
import { describeOnEachDatabase } from '../support/test-app.js';
import { resetWebhooks } from './webhook-receiver.js';

describeOnEachDatabase('webhook SSRF protection (private targets not allowed)', (harness) => {
  beforeEach(async () => resetWebhooks(harness().db));

  function register(url: string) {
    return harness().request('POST', '/api/v1/webhooks', { body: { url, event_types: ['*'] } });
  }

  it.each([
    ['http://127.0.0.1:8080/hooks', 'loopback'],
    ['http://127.1/hooks', 'loopback'],
    ['http://2130706433/hooks', 'loopback'],
    ['https://10.0.0.5/hooks', 'private'],
    ['https://192.168.1.20/hooks', 'private'],
    ['http://169.254.169.254/latest/meta-data', 'link-local'],
    ['http://[::1]:8080/hooks', 'loopback'],
    ['http://[::ffff:127.0.0.1]/hooks', 'loopback'],
    ['http://[fd00::1]/hooks', 'private'],
    ['http://100.64.1.1/hooks', 'carrier-grade-nat'],
    ['http://0.0.0.0:8080/hooks', 'unspecified'],
    ['http://224.0.0.1/hooks', 'multicast'],
    ['http://localhost:8080/hooks', 'loopback'],
  ])('refuses %s (%s) with 422 WEBHOOK_URL_FORBIDDEN', async (url, addressClass) => {
    const response = await register(url);
    expect(response.status).toBe(422);
    expect(response.body).toMatchObject({ code: 'WEBHOOK_URL_FORBIDDEN', address_class: addressClass });
    expect((await harness().request('GET', '/api/v1/webhooks')).body.data).toEqual([]);
  });

  it('checks a changed URL too', async () => {
    const { db, request } = harness();
    // Registered as if it had been public; the change to a private address is refused.
    await db.schemaOwner().query(
      `INSERT INTO webhook_endpoints (tenant_id, id, url, event_types) VALUES
        ('default', '0190a0e2-0000-7000-8000-0000000000aa', 'https://203.0.114.1/hooks', '{*}')`,
    );
    const changed = await request('PATCH', '/api/v1/webhooks/0190a0e2-0000-7000-8000-0000000000aa', {
      body: { url: 'http://10.1.2.3/hooks' },
    });
    expect(changed.status).toBe(422);
    expect(changed.body.code).toBe('WEBHOOK_URL_FORBIDDEN');
  });

  it('accepts a public address literal without resolving anything', async () => {
    const response = await register('https://203.0.114.1/hooks');
    expect(response.status).toBe(201);
  });
});
