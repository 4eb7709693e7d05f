import { beforeEach, expect, it } from 'vitest';
import { describeOnEachDatabase, OTHER_TENANT_KEY } from '../support/test-app.js';
import { createKey, resetWebhooks } from './webhook-receiver.js';

const URL_OK = 'http://127.0.0.1:9/hooks';

describeOnEachDatabase(
  'webhook endpoints API',
  (harness) => {
    beforeEach(async () => resetWebhooks(harness().db));

    function register(body: Record<string, unknown> = {}, key?: string) {
      return harness().request('POST', '/api/v1/webhooks', {
        body: { url: URL_OK, event_types: ['stock.updated'], ...body },
        ...(key === undefined ? {} : { key }),
      });
    }

    it('registers an endpoint and shows its signing secret once', async () => {
      const { request } = harness();
      const created = await register({
        event_types: ['stock.updated', 'stock.created'],
        store_ids: ['MAD-001'],
        description: 'ERP sync',
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        url: URL_OK,
        event_types: ['stock.updated', 'stock.created'],
        store_ids: ['MAD-001'],
        description: 'ERP sync',
        enabled: true,
        version: 1,
        consecutive_failures: 0,
        circuit_open_until: null,
      });
      expect(created.body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);
      expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/=]{32,}$/);
      expect(Buffer.from(created.body.secret.slice('whsec_'.length), 'base64').length).toBeGreaterThanOrEqual(
        24,
      );
      expect(created.headers['location']).toBe(`/api/v1/webhooks/${created.body.id}`);
      expect(created.headers['cache-control']).toBe('no-store');

      const fetched = await request('GET', `/api/v1/webhooks/${created.body.id}`);
      expect(fetched.status).toBe(200);
      expect(fetched.body.secret).toBeUndefined();
      expect(fetched.headers['etag']).toBe('"1"');
      const listed = await request('GET', '/api/v1/webhooks');
      expect(listed.body.data).toHaveLength(1);
      expect(listed.body.data[0].secret).toBeUndefined();
      expect(JSON.stringify(listed.body)).not.toContain(created.body.secret);
    });

    it('pages the list with a cursor', async () => {
      const { request } = harness();
      const ids: string[] = [];
      for (let index = 0; index < 5; index += 1) ids.push((await register()).body.id);
      const first = await request('GET', '/api/v1/webhooks?limit=2');
      expect(first.body.data.map((webhook: { id: string }) => webhook.id)).toEqual(ids.slice(0, 2));
      const second = await request('GET', `/api/v1/webhooks?limit=2&cursor=${first.body.next_cursor}`);
      expect(second.body.data.map((webhook: { id: string }) => webhook.id)).toEqual(ids.slice(2, 4));
      const third = await request('GET', `/api/v1/webhooks?limit=2&cursor=${second.body.next_cursor}`);
      expect(third.body.data.map((webhook: { id: string }) => webhook.id)).toEqual(ids.slice(4));
      expect(third.body.next_cursor).toBeNull();
      expect((await request('GET', '/api/v1/webhooks?cursor=bogus')).status).toBe(400);
    });

    it('changes an endpoint, honouring If-Match, and rotates its secret only when asked', async () => {
      const { request } = harness();
      const created = (await register()).body;
      const url = `/api/v1/webhooks/${created.id}`;
      const changed = await request('PATCH', url, {
        body: { event_types: ['*'], store_ids: null, enabled: false, description: null },
        headers: { 'if-match': '"1"' },
      });
      expect(changed.status).toBe(200);
      expect(changed.body).toMatchObject({ event_types: ['*'], store_ids: null, enabled: false, version: 2 });
      expect(changed.body.secret).toBeUndefined();
      expect(changed.headers['etag']).toBe('"2"');
      const stale = await request('PATCH', url, { body: { enabled: true }, headers: { 'if-match': '"1"' } });
      expect(stale.status).toBe(412);
      expect(stale.body.code).toBe('VERSION_CONFLICT');

      const rotated = await request('PATCH', url, { body: { rotate_secret: true } });
      expect(rotated.status).toBe(200);
      expect(rotated.body.secret).toMatch(/^whsec_/);
      expect(rotated.body.secret).not.toBe(created.secret);
      const secrets = await harness()
        .db.schemaOwner()
        .query<{ expires_at: Date | null }>(
          'SELECT expires_at FROM webhook_secrets WHERE endpoint_id = $1 ORDER BY created_at',
          [created.id],
        );
      expect(secrets.rows).toHaveLength(2);
      const retiredExpiry = secrets.rows[0]?.expires_at ?? null;
      expect(retiredExpiry).toBeInstanceOf(Date);
      const overlapMs = Number(retiredExpiry?.getTime()) - Date.now();
      expect(overlapMs).toBeGreaterThan(23.9 * 3600_000);
      expect(overlapMs).toBeLessThanOrEqual(24 * 3600_000);
      expect(secrets.rows[1]?.expires_at).toBeNull();
    });

    it('deletes an endpoint', async () => {
      const { request } = harness();
      const created = (await register()).body;
      expect((await request('DELETE', `/api/v1/webhooks/${created.id}`)).status).toBe(204);
      expect((await request('GET', `/api/v1/webhooks/${created.id}`)).status).toBe(404);
      expect((await request('DELETE', `/api/v1/webhooks/${created.id}`)).status).toBe(404);
    });

    it('validates the body', async () => {
      const { request } = harness();
      for (const body of [
        { url: URL_OK },
        { url: URL_OK, event_types: [] },
        { url: URL_OK, event_types: ['Stock Updated'] },
        { url: URL_OK, event_types: ['stock.*'] },
        { url: URL_OK, event_types: ['stock.updated', 'stock.updated'] },
        { url: URL_OK, event_types: ['*'], store_ids: [] },
        { url: URL_OK, event_types: ['*'], store_ids: ['no spaces allowed'] },
        { url: URL_OK, event_types: ['*'], secret: 'mine' },
        { url: 'x'.repeat(2049), event_types: ['*'] },
      ]) {
        const response = await request('POST', '/api/v1/webhooks', { body });
        expect(response.status, JSON.stringify(body).slice(0, 80)).toBe(400);
        expect(response.body.code).toBe('VALIDATION_FAILED');
      }
      const created = (await register()).body;
      const emptyPatch = await request('PATCH', `/api/v1/webhooks/${created.id}`, { body: {} });
      expect(emptyPatch.status).toBe(400);
      expect((await request('GET', '/api/v1/webhooks/not-a-uuid')).status).toBe(400);
    });

    it('refuses URLs that are not http(s) or carry credentials', async () => {
      for (const url of [
        'ftp://127.0.0.1/x',
        'https://user:secret@127.0.0.1/x',
        'javascript:alert(1)',
        'hooks',
      ]) {
        const response = await register({ url });
        expect(response.status, url).toBe(422);
        expect(response.body.code).toBe('WEBHOOK_URL_INVALID');
      }
    });

    it('answers 403 to keys that are not admin, 401 without a key', async () => {
      const { request } = harness();
      const created = (await register()).body;
      for (const role of ['manager', 'vendor', 'customer'] as const) {
        const key = await createKey(harness().db, role);
        for (const [method, url, body] of [
          ['POST', '/api/v1/webhooks', { url: URL_OK, event_types: ['*'] }],
          ['GET', '/api/v1/webhooks', undefined],
          ['GET', `/api/v1/webhooks/${created.id}`, undefined],
          ['PATCH', `/api/v1/webhooks/${created.id}`, { enabled: false }],
          ['DELETE', `/api/v1/webhooks/${created.id}`, undefined],
          ['GET', `/api/v1/webhooks/${created.id}/deliveries`, undefined],
          ['POST', `/api/v1/webhooks/${created.id}/replay`, { from_sequence: 1 }],
        ] as const) {
          const response = await request(method, url, { key, ...(body === undefined ? {} : { body }) });
          expect(response.status, `${role} ${method} ${url}`).toBe(403);
          expect(response.body.code).toBe('FORBIDDEN');
        }
      }
      expect((await request('GET', '/api/v1/webhooks', { key: null })).status).toBe(401);
      expect((await request('GET', `/api/v1/webhooks/${created.id}`)).body.enabled).toBe(true);
    });

    it("keeps tenants apart: another tenant's endpoint is a 404", async () => {
      const { request } = harness();
      const created = (await register()).body;
      const key = OTHER_TENANT_KEY;
      expect((await request('GET', '/api/v1/webhooks', { key })).body.data).toEqual([]);
      for (const [method, url, body] of [
        ['GET', `/api/v1/webhooks/${created.id}`, undefined],
        ['PATCH', `/api/v1/webhooks/${created.id}`, { rotate_secret: true }],
        ['DELETE', `/api/v1/webhooks/${created.id}`, undefined],
        ['GET', `/api/v1/webhooks/${created.id}/deliveries`, undefined],
        ['POST', `/api/v1/webhooks/${created.id}/replay`, { from_sequence: 1 }],
        ['POST', `/api/v1/webhooks/${created.id}/deliveries/${created.id}/redeliver`, undefined],
      ] as const) {
        const response = await request(method, url, { key, ...(body === undefined ? {} : { body }) });
        expect(response.status, `${method} ${url}`).toBe(404);
        expect(response.body.code).toBe('WEBHOOK_NOT_FOUND');
      }
      expect((await request('GET', `/api/v1/webhooks/${created.id}`)).status).toBe(200);
    });

    it('answers 404 for an unknown delivery and 422 for a replay without a start', async () => {
      const { request } = harness();
      const created = (await register()).body;
      const missing = await request(
        'POST',
        `/api/v1/webhooks/${created.id}/deliveries/0190a0e2-0000-7000-8000-000000000001/redeliver`,
      );
      expect(missing.status).toBe(404);
      expect(missing.body.code).toBe('WEBHOOK_DELIVERY_NOT_FOUND');
      const replay = await request('POST', `/api/v1/webhooks/${created.id}/replay`, { body: {} });
      expect(replay.status).toBe(422);
      expect(replay.body.code).toBe('WEBHOOK_REPLAY_RANGE_INVALID');
      const badTime = await request('POST', `/api/v1/webhooks/${created.id}/replay`, {
        body: { from_time: 'yesterday' },
      });
      expect(badTime.status).toBe(400);
    });

    it('documents the routes in the OpenAPI description', async () => {
      const document = await harness().request('GET', '/openapi.json', { key: null });
      const paths = Object.keys(document.body.paths);
      for (const path of [
        '/api/v1/webhooks',
        '/api/v1/webhooks/{webhookId}',
        '/api/v1/webhooks/{webhookId}/deliveries',
        '/api/v1/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver',
        '/api/v1/webhooks/{webhookId}/replay',
      ]) {
        expect(paths).toContain(path);
      }
      expect(document.body.paths['/api/v1/webhooks'].post.security).toEqual([{ apiKey: [] }, { bearer: [] }]);
    });
  },
  { webhookAllowPrivateTargets: true },
);
