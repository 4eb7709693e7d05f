import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WebhookSender } from '../../src/modules/webhooks/webhook.sender.js';
import { describeOnEachDatabase } from '../support/test-app.js';
import { resetWebhooks } from '../webhooks/webhook-receiver.js';

/**
 * OWASP API7:2023 Server Side Request Forgery: webhook URLs are the API's only outbound requests.
 * With WEBHOOK_ALLOW_PRIVATE_TARGETS off (the default), nothing may point them inside.
 */
describeOnEachDatabase('API7 webhook targets', (harness) => {
  beforeEach(async () => resetWebhooks(harness().db));

  const register = (url: string) =>
    harness().request('POST', '/api/v1/webhooks', { body: { url, event_types: ['*'] } });

  it.each([
    ['loopback', 'http://127.0.0.1/hooks'],
    ['loopback, short form', 'http://127.1/hooks'],
    ['loopback, decimal encoding', 'http://2130706433/hooks'],
    ['loopback, hex encoding', 'http://0x7f000001/hooks'],
    ['loopback, dotted hex encoding', 'http://0x7f.0x0.0x0.0x1/hooks'],
    ['loopback, octal encoding', 'http://0177.0.0.1/hooks'],
    ['private 10/8', 'https://10.0.0.5/hooks'],
    ['private 172.16/12', 'https://172.16.3.4/hooks'],
    ['private 192.168/16', 'https://192.168.1.20/hooks'],
    ['cloud metadata (link-local)', 'http://169.254.169.254/latest/meta-data'],
    ['cloud metadata, decimal encoding', 'http://2852039166/latest/meta-data'],
    ['IPv6 loopback', 'http://[::1]/hooks'],
    ['IPv6 unique local (ULA)', 'http://[fd12:3456:789a::1]/hooks'],
    ['IPv6 link-local', 'http://[fe80::1]/hooks'],
    ['IPv4-mapped IPv6 loopback', 'http://[::ffff:127.0.0.1]/hooks'],
    ['IPv4-mapped IPv6 metadata', 'http://[::ffff:a9fe:a9fe]/hooks'],
    ['unspecified address', 'http://0.0.0.0/hooks'],
    ['DNS name resolving to loopback', 'http://localhost/hooks'],
    ['DNS name resolving to loopback, mixed case', 'http://LocalHost:8080/hooks'],
  ])('API7: refuses a webhook to %s (%s)', async (_name, url) => {
    const response = await register(url);
    expect(response.status).toBe(422);
    expect(['WEBHOOK_URL_FORBIDDEN', 'WEBHOOK_URL_INVALID']).toContain(response.body.code);
    expect((await harness().request('GET', '/api/v1/webhooks')).body.data).toEqual([]);
  });

  it('API7: refuses URLs with credentials or schemes other than http(s)', async () => {
    for (const url of ['file:///etc/passwd', 'gopher://203.0.114.1/', 'http://user:pass@203.0.114.1/']) {
      const response = await register(url);
      expect(response.status, url).toBe(422);
    }
  });

  it('API7: refuses changing a registered URL to a private target', async () => {
    const created = await register('https://203.0.114.1/hooks');
    expect(created.status).toBe(201);
    const changed = await harness().request('PATCH', `/api/v1/webhooks/${created.body.id}`, {
      body: { url: 'http://[::1]/hooks' },
    });
    expect(changed.status).toBe(422);
    expect(changed.body.code).toBe('WEBHOOK_URL_FORBIDDEN');
  });
});

describe('API7 delivery', () => {
  let internal: { server: Server; port: number; hits: number };
  let redirector: { server: Server; port: number; hits: number };
  const strict = new WebhookSender({ timeoutMs: 2_000, allowPrivateTargets: false });
  const open = new WebhookSender({ timeoutMs: 2_000, allowPrivateTargets: true });

  async function serve(handler: Parameters<typeof createServer>[1]) {
    const state = { server: createServer(), port: 0, hits: 0 };
    state.server.on('request', (request, response) => {
      state.hits += 1;
      handler?.(request, response);
    });
    await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve));
    state.port = (state.server.address() as AddressInfo).port;
    return state;
  }

  beforeAll(async () => {
    internal = await serve((_request, response) => response.end('internal secret'));
    redirector = await serve((_request, response) => {
      response.writeHead(302, { location: `http://127.0.0.1:${internal.port}/admin` });
      response.end();
    });
  });

  afterAll(async () => {
    strict.close();
    open.close();
    for (const { server } of [internal, redirector]) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('API7: does not follow a redirect to a private target', async () => {
    const outcome = await open.send(`http://127.0.0.1:${redirector.port}/hook`, '{}', {});
    expect(outcome).toMatchObject({ ok: false, statusCode: 302 });
    expect(internal.hits).toBe(0);
  });

  it('API7: checks the connected address at delivery, so a name that now resolves inside is refused', async () => {
    // Registration checked the name once; DNS may point it elsewhere later (rebinding).
    const outcome = await strict.send(`http://localhost:${internal.port}/hook`, '{}', {});
    expect(outcome.ok).toBe(false);
    expect(outcome.statusCode).toBeNull();
    expect(internal.hits).toBe(0);
  });
});
