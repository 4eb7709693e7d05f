import { expect, it } from 'vitest';
import { describeOnEachDatabase, OTHER_TENANT_KEY } from '../support/test-app.js';

describeOnEachDatabase('HTTP contract', (harness) => {
  async function outboxCount(): Promise<number> {
    const result = await harness()
      .db.schemaOwner()
      .query<{ count: number }>('SELECT count(*) AS count FROM outbox_events');
    return Number(result.rows[0]?.count);
  }

  it('replays a repeated Idempotency-Key with the first response', async () => {
    const { request, createStore, createProduct, stock } = harness();
    const store = await createStore();
    const product = await createProduct();
    await stock(product.id, store, 10);
    const body = { product_id: product.id, store_id: store, quantity: 2, customer_id: 'c-1' };
    const headers = { 'idempotency-key': 'checkout-42' };
    const first = await request('POST', '/api/v1/reservations', { body, headers });
    expect(first.status).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const events = await outboxCount();
    const replay = await request('POST', '/api/v1/reservations', { body, headers });
    expect(replay.status).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual(first.body);
    expect(replay.headers['location']).toBe(first.headers['location']);
    expect(await outboxCount()).toBe(events);
    const level = await request('GET', `/api/v1/stock/${product.id}/${store}`, { key: null });
    expect(level.body.reserved).toBe(2);
    const reused = await request('POST', '/api/v1/reservations', { body: { ...body, quantity: 3 }, headers });
    expect(reused.status).toBe(422);
    expect(reused.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('replays refusals too, keeps keys per tenant, and answers 409 while the first is in flight', async () => {
    const { request, createStore, createProduct, stock, db } = harness();
    const store = await createStore();
    const product = await createProduct();
    await stock(product.id, store, 1);
    const body = { product_id: product.id, store_id: store, quantity: 5, customer_id: 'c-1' };
    const headers = { 'idempotency-key': 'k-refused' };
    const refused = await request('POST', '/api/v1/reservations', { body, headers });
    expect(refused.status).toBe(409);
    const replayed = await request('POST', '/api/v1/reservations', { body, headers });
    expect(replayed.status).toBe(409);
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    expect(replayed.headers['content-type']).toContain('application/problem+json');
    // Simulates a request still running: an unexpired IN_FLIGHT claim with the same fingerprint.
    await db
      .schemaOwner()
      .query(
        `UPDATE idempotency_keys SET state = 'IN_FLIGHT', response_status = NULL, locked_until = now() + interval '1 minute'`,
      );
    const inFlight = await request('POST', '/api/v1/reservations', { body, headers });
    expect(inFlight.status).toBe(409);
    expect(inFlight.body.code).toBe('IDEMPOTENCY_REQUEST_IN_PROGRESS');
    expect(inFlight.headers['retry-after']).toBe('1');
    // The same key in another tenant is another key: a fresh request, not a replay or a 409.
    const otherTenant = await request('POST', '/api/v1/stores', {
      body: { id: 'OTH-001', name: 'Other' },
      headers,
      key: OTHER_TENANT_KEY,
    });
    expect(otherTenant.status).toBe(201);
    expect(otherTenant.headers['idempotent-replayed']).toBeUndefined();
    const badKey = await request('POST', '/api/v1/reservations', {
      body,
      headers: { 'idempotency-key': 'has space' },
    });
    expect(badKey.status).toBe(400);
    const stored = await db
      .schemaOwner()
      .query<{ expires_at: Date }>('SELECT expires_at FROM idempotency_keys');
    for (const row of stored.rows)
      expect(row.expires_at.getTime() - Date.now()).toBeGreaterThan(23.9 * 3600_000);
  });

  it('requires credentials on every mutating route and refuses bad ones', async () => {
    const { request } = harness();
    const anonymous = await request('POST', '/api/v1/stores', {
      body: { id: 'AAA-1', name: 'x' },
      key: null,
    });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toBe('Bearer');
    expect(
      (await request('POST', '/api/v1/stores', { body: { id: 'AAA-1', name: 'x' }, key: 'wrong-key' }))
        .status,
    ).toBe(401);
    const bearer = await request('POST', '/api/v1/stores', {
      body: { id: 'AAA-1', name: 'x' },
      key: null,
      headers: { authorization: 'Bearer test-admin-key-0123456789abcdef' },
    });
    expect(bearer.status).toBe(201);
    expect(
      (await request('GET', '/api/v1/stores', { key: null, headers: { authorization: 'Basic abc' } })).status,
    ).toBe(401);
    expect(
      (await request('GET', '/api/v1/stores', { key: null, headers: { 'x-tenant-id': 'BAD TENANT' } }))
        .status,
    ).toBe(400);
    expect(
      (await request('GET', '/api/v1/stores', { headers: { 'x-tenant-id': 'other-tenant' } })).status,
    ).toBe(403);
    expect(
      (await request('DELETE', '/api/v1/products/01900000-0000-7000-8000-000000000000', { key: null }))
        .status,
    ).toBe(401);
  });

  it('answers bad input with problem+json 4xx and changes nothing', async () => {
    const { request } = harness();
    const before = await outboxCount();
    const malformed = await request('POST', '/api/v1/stores', {
      body: '{"id": "AAA-1",',
      headers: { 'content-type': 'application/json' },
    });
    expect(malformed.status).toBe(400);
    expect(malformed.body).toMatchObject({
      code: 'MALFORMED_JSON',
      status: 400,
      type: expect.stringContaining('malformed-json'),
    });
    const empty = await request('POST', '/api/v1/stores', {
      body: '',
      headers: { 'content-type': 'application/json' },
    });
    expect(empty.status).toBe(400);
    const notJson = await request('POST', '/api/v1/stores', {
      body: 'id=1',
      headers: { 'content-type': 'text/plain' },
    });
    expect(notJson.status).toBe(415);
    const huge = await request('POST', '/api/v1/stores', {
      body: { id: 'AAA-1', name: 'x'.repeat(200_000) },
    });
    expect(huge.status).toBe(413);
    expect(huge.body.code).toBe('PAYLOAD_TOO_LARGE');
    const wrongTypes = await request('POST', '/api/v1/stores', { body: { id: 123, name: ['x'] } });
    expect(wrongTypes.status).toBe(400);
    expect(wrongTypes.body.errors.map((error: any) => error.field).sort()).toEqual(['body.id', 'body.name']);
    const arrayBody = await request('POST', '/api/v1/stores', { body: [] });
    expect(arrayBody.status).toBe(400);
    const absurd = await request('POST', '/api/v1/stock', {
      body: { product_id: '01900000-0000-7000-8000-000000000000', store_id: 'AAA-1', quantity: 1e20 },
    });
    expect(absurd.status).toBe(400);
    for (const response of [malformed, empty, notJson, huge, wrongTypes, arrayBody, absurd]) {
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(JSON.stringify(response.body)).not.toMatch(/at .*\.ts:|node_modules|SELECT|INSERT/);
      expect(response.body.request_id).toEqual(expect.any(String));
    }
    expect(await outboxCount()).toBe(before);
    expect((await request('GET', '/api/v1/stores', { key: null })).body.data).toEqual([]);
  });

  it('answers unknown routes with a problem document', async () => {
    const { request } = harness();
    const missing = await request('GET', '/api/v1/nothing-here', { key: null });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('NOT_FOUND');
  });

  it('echoes X-Request-Id, or makes one', async () => {
    const { request } = harness();
    const echoed = await request('GET', '/health', { key: null, headers: { 'x-request-id': 'req-abc-123' } });
    expect(echoed.headers['x-request-id']).toBe('req-abc-123');
    const made = await request('GET', '/health', { key: null });
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const unsafe = await request('GET', '/health', {
      key: null,
      headers: { 'x-request-id': 'bad id with spaces' },
    });
    expect(unsafe.headers['x-request-id']).not.toBe('bad id with spaces');
  });

  it('reports health and readiness with per-dependency detail', async () => {
    const { request } = harness();
    const health = await request('GET', '/health', { key: null });
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'ok', checks: { database: { status: 'up' } } });
    const ready = await request('GET', '/ready', { key: null });
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toMatchObject({ database: { status: 'up' }, migrations: { status: 'up' } });
  });

  it('publishes an OpenAPI 3.1 document generated from the route schemas, and its UI', async () => {
    const { request } = harness();
    const document = await request('GET', '/openapi.json', { key: null });
    expect(document.status).toBe(200);
    expect(document.body.openapi).toBe('3.1.0');
    const paths = Object.keys(document.body.paths);
    for (const path of [
      '/api/v1/stores',
      '/api/v1/products/{productId}',
      '/api/v1/products/{productId}/availability',
      '/api/v1/stock/{productId}/{storeId}/adjust',
      '/api/v1/stock/transfer',
      '/api/v1/reservations/batch',
      '/api/v1/reservations/{reservationId}/confirm',
    ]) {
      expect(paths).toContain(path);
    }
    const reserve = document.body.paths['/api/v1/reservations'].post;
    expect(reserve.requestBody.content['application/json'].schema.required).toEqual(
      expect.arrayContaining(['product_id', 'store_id', 'quantity', 'customer_id']),
    );
    expect(reserve.security).toEqual([{ apiKey: [] }, { bearer: [] }]);
    expect(document.body.paths['/api/v1/products'].get.security).toEqual([]);
    const ui = await request('GET', '/docs/', { key: null });
    expect(ui.status).toBe(200);
    expect(String(ui.body)).toContain('swagger');
  });
});
