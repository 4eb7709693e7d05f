import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookSender } from './webhook.sender.js';
import { generateWebhookSecret, signatureHeaders } from './webhook-signature.js';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

async function listen(handler: Handler): Promise<{ server: Server; url: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((request, response) => {
    hits.push(`${request.method} ${request.url}`);
    handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

describe('webhook sender', () => {
  let receiver: Awaited<ReturnType<typeof listen>>;
  const strict = new WebhookSender({ timeoutMs: 2_000, allowPrivateTargets: false });
  const open = new WebhookSender({ timeoutMs: 300, allowPrivateTargets: true });

  beforeAll(async () => {
    receiver = await listen((request, response) => {
      if (request.url === '/slow') return void setTimeout(() => response.end('late'), 2_000);
      if (request.url === '/redirect') {
        response.writeHead(307, { location: 'http://169.254.169.254/latest/meta-data' });
        return void response.end();
      }
      if (request.url === '/down') {
        response.writeHead(503);
        return void response.end('  maintenance\n window ');
      }
      response.writeHead(204);
      response.end();
    });
  });

  afterAll(async () => {
    strict.close();
    open.close();
    receiver.server.closeAllConnections();
    await new Promise((resolve) => receiver.server.close(resolve));
  });

  it('refuses loopback targets at connect time unless private targets are allowed', async () => {
    const port = new URL(receiver.url).port;
    const before = receiver.hits.length;
    for (const url of [
      `http://127.0.0.1:${port}/`,
      `http://localhost:${port}/`,
      `http://[::ffff:127.0.0.1]:${port}/`,
    ]) {
      const outcome = await strict.send(url, '{}', {});
      expect(outcome.ok, url).toBe(false);
      expect(outcome.statusCode).toBeNull();
      expect(outcome.error).toMatch(/not allowed|refused/);
    }
    expect(receiver.hits.length).toBe(before);
    expect(await open.send(`${receiver.url}/`, '{}', {})).toEqual({ ok: true, statusCode: 204, error: null });
  });

  it('turns anything that goes wrong into a failed outcome, never an exception', async () => {
    expect(await open.send('not a url', '{}', {})).toMatchObject({ ok: false, statusCode: null });
    expect(await open.send(`${receiver.url}/`, '{}', { 'bad header': 'x' })).toMatchObject({ ok: false });
  });

  it('does not follow redirects: a 3xx is a failure naming where it pointed', async () => {
    const outcome = await open.send(`${receiver.url}/redirect`, '{}', {});
    expect(outcome).toMatchObject({ ok: false, statusCode: 307 });
    expect(outcome.error).toContain('169.254.169.254');
  });

  it('keeps a short excerpt of a failed answer, and times out slow receivers', async () => {
    expect(await open.send(`${receiver.url}/down`, '{}', {})).toEqual({
      ok: false,
      statusCode: 503,
      error: 'HTTP 503: maintenance window',
    });
    const started = Date.now();
    expect(await open.send(`${receiver.url}/slow`, '{}', {})).toEqual({
      ok: false,
      statusCode: null,
      error: 'timed out',
    });
    expect(Date.now() - started).toBeLessThan(1_500);
  });
});

describe('webhook signatures', () => {
  it('verify with the standardwebhooks library, with every active secret during a rotation', () => {
    const current = generateWebhookSecret();
    const previous = generateWebhookSecret();
    expect(current).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const body = JSON.stringify({ id: 'evt', data: { quantity: 3 } });
    const headers = signatureHeaders('evt-1', new Date(), body, [current, previous]);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    for (const secret of [current, previous]) {
      expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
    }
    expect(() => new Webhook(generateWebhookSecret()).verify(body, { ...headers })).toThrow();
    expect(() => new Webhook(current).verify(`${body} `, { ...headers })).toThrow();
  });
});
