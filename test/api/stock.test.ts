import { expect, it } from 'vitest';
import { findInvariantViolations } from '../support/invariants.js';
import { describeOnEachDatabase } from '../support/test-app.js';

describeOnEachDatabase('stock levels', (harness) => {
  async function level(quantity = 10, threshold = 0) {
    const { createStore, createProduct, stock } = harness();
    const store = await createStore();
    const product = await createProduct();
    const created = await stock(product.id, store, quantity, threshold);
    return { store, product, created, url: `/api/v1/stock/${product.id}/${store}` };
  }

  it('initialises a level once, with a ledger row and a stock.created event', async () => {
    const { request, db } = harness();
    const { product, store, created } = await level(12, 3);
    expect(created).toMatchObject({
      product_id: product.id,
      store_id: store,
      quantity: 12,
      reserved: 0,
      available: 12,
      low_stock_threshold: 3,
      version: 1,
    });
    const again = await request('POST', '/api/v1/stock', {
      body: { product_id: product.id, store_id: store, quantity: 1 },
    });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('STOCK_LEVEL_EXISTS');
    const outbox = await db
      .schemaOwner()
      .query<{ event_type: string; envelope: any }>(
        `SELECT event_type, envelope FROM outbox_events WHERE aggregate_type = 'stock_level'`,
      );
    expect(outbox.rows).toHaveLength(1);
    expect(outbox.rows[0]?.event_type).toBe('stock.created');
    expect(outbox.rows[0]?.envelope).toMatchObject({
      specversion: '1.0',
      type: 'stock.created',
      tenantid: 'default',
      data: { new_quantity: 12, version: 1 },
    });
  });

  it('refuses stock for unknown products and stores', async () => {
    const { request, createStore, createProduct } = harness();
    const store = await createStore();
    const product = await createProduct();
    const noProduct = await request('POST', '/api/v1/stock', {
      body: { product_id: '01900000-0000-7000-8000-000000000000', store_id: store, quantity: 1 },
    });
    expect(noProduct.status).toBe(404);
    expect(noProduct.body.code).toBe('PRODUCT_NOT_FOUND');
    const noStore = await request('POST', '/api/v1/stock', {
      body: { product_id: product.id, store_id: 'NOPE-1', quantity: 1 },
    });
    expect(noStore.status).toBe(404);
    expect(noStore.body.code).toBe('STORE_NOT_FOUND');
    const negative = await request('POST', '/api/v1/stock', {
      body: { product_id: product.id, store_id: store, quantity: -5 },
    });
    expect(negative.status).toBe(400);
  });

  it('reads one level with its ETag, all levels of a product with totals, and a store page', async () => {
    const { request, createStore, stock } = harness();
    const { product, store, url } = await level(10);
    const second = await createStore();
    await stock(product.id, second, 5);
    const one = await request('GET', url, { key: null });
    expect(one.status).toBe(200);
    expect(one.headers['etag']).toBe('"1"');
    const all = await request('GET', `/api/v1/stock/product/${product.id}`, { key: null });
    expect(all.body).toMatchObject({
      product_id: product.id,
      total_quantity: 15,
      total_reserved: 0,
      total_available: 15,
    });
    expect(all.body.levels).toHaveLength(2);
    const ofStore = await request('GET', `/api/v1/stock/store/${store}`);
    expect(ofStore.body.data).toEqual([expect.objectContaining({ product_id: product.id, quantity: 10 })]);
    expect((await request('GET', `/api/v1/stock/store/${store}`, { key: null })).status).toBe(401);
    expect((await request('GET', '/api/v1/stock/store/NOPE-1')).status).toBe(404);
    expect((await request('GET', `/api/v1/stock/${product.id}/NOPE-1`, { key: null })).status).toBe(404);
    expect((await request('GET', '/api/v1/stock/not-a-uuid/MAD-001', { key: null })).status).toBe(400);
  });

  it('answers availability for a quantity and the customer view per store', async () => {
    const { request } = harness();
    const { product, store, url } = await level(4);
    const enough = await request('GET', `${url}/availability?quantity=4`, { key: null });
    expect(enough.body).toEqual({
      product_id: product.id,
      store_id: store,
      requested: 4,
      available: 4,
      is_available: true,
    });
    const tooMany = await request('GET', `${url}/availability?quantity=5`, { key: null });
    expect(tooMany.body.is_available).toBe(false);
    expect((await request('GET', `${url}/availability?quantity=abc`, { key: null })).status).toBe(400);
    await request('POST', '/api/v1/reservations', {
      body: { product_id: product.id, store_id: store, quantity: 1, customer_id: 'c' },
    });
    const view = await request('GET', `/api/v1/products/${product.id}/availability`, { key: null });
    expect(view.body).toMatchObject({
      product_id: product.id,
      name: product.name,
      total_available: 3,
      stores: [{ store_id: store, store_name: `Store ${store}`, available: 3, reserved: 1 }],
    });
  });

  it('sets on-hand only with If-Match: 428 without, 412 when stale, never below reserved', async () => {
    const { request } = harness();
    const { product, store, url } = await level(10);
    const unconditional = await request('PUT', url, { body: { quantity: 7 } });
    expect(unconditional.status).toBe(428);
    expect(unconditional.body.code).toBe('PRECONDITION_REQUIRED');
    const set = await request('PUT', url, {
      body: { quantity: 7, reason: 'COUNT' },
      headers: { 'if-match': '"1"' },
    });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ quantity: 7, version: 2 });
    expect(set.headers['etag']).toBe('"2"');
    const stale = await request('PUT', url, { body: { quantity: 8 }, headers: { 'if-match': '"1"' } });
    expect(stale.status).toBe(412);
    expect(stale.headers['etag']).toBe('"2"');
    const garbage = await request('PUT', url, { body: { quantity: 8 }, headers: { 'if-match': 'whatever' } });
    expect(garbage.status).toBe(412);
    await request('POST', '/api/v1/reservations', {
      body: { product_id: product.id, store_id: store, quantity: 5, customer_id: 'c' },
    });
    const belowReserved = await request('PUT', url, {
      body: { quantity: 4 },
      headers: { 'if-match': '"3"' },
    });
    expect(belowReserved.status).toBe(409);
    expect(belowReserved.body.code).toBe('QUANTITY_BELOW_RESERVED');
  });

  it('adjusts with a reason whose sign fits, and never below reserved', async () => {
    const { request } = harness();
    const { product, store, url } = await level(10);
    const sale = await request('POST', `${url}/adjust`, {
      body: { quantity_change: -3, reason: 'SALE', user_id: 'clerk-7' },
    });
    expect(sale.status).toBe(200);
    expect(sale.body).toMatchObject({ quantity: 7, available: 7, version: 2 });
    const restock = await request('POST', `${url}/adjust`, {
      body: { quantity_change: 5, reason: 'RESTOCK' },
    });
    expect(restock.body.quantity).toBe(12);
    const wrongSign = await request('POST', `${url}/adjust`, {
      body: { quantity_change: 5, reason: 'DAMAGE' },
    });
    expect(wrongSign.status).toBe(422);
    expect(wrongSign.body.code).toBe('INVALID_ADJUSTMENT');
    expect(
      (await request('POST', `${url}/adjust`, { body: { quantity_change: 0, reason: 'CORRECTION' } })).status,
    ).toBe(400);
    expect(
      (await request('POST', `${url}/adjust`, { body: { quantity_change: 1, reason: 'MAGIC' } })).status,
    ).toBe(400);
    expect(
      (await request('POST', `${url}/adjust`, { body: { quantity_change: 1.5, reason: 'RESTOCK' } })).status,
    ).toBe(400);
    expect(
      (await request('POST', `${url}/adjust`, { body: { quantity_change: 10_000_000, reason: 'RESTOCK' } }))
        .status,
    ).toBe(400);
    await request('POST', '/api/v1/reservations', {
      body: { product_id: product.id, store_id: store, quantity: 10, customer_id: 'c' },
    });
    const oversell = await request('POST', `${url}/adjust`, {
      body: { quantity_change: -3, reason: 'SALE' },
    });
    expect(oversell.status).toBe(409);
    expect(oversell.body).toMatchObject({ code: 'INSUFFICIENT_STOCK', available: 2, requested: 3 });
    const missing = await request('POST', `/api/v1/stock/${product.id}/NOPE-1/adjust`, {
      body: { quantity_change: 1, reason: 'RESTOCK' },
    });
    expect(missing.status).toBe(404);
  });

  it('keeps a ledger whose sum is on-hand, paged newest first', async () => {
    const { request, db } = harness();
    const { url } = await level(10);
    for (const change of [-1, -2, 4]) {
      await request('POST', `${url}/adjust`, {
        body: { quantity_change: change, reason: 'CORRECTION', note: 'recount' },
      });
    }
    const first = await request('GET', `${url}/movements?limit=2`);
    expect(first.body.data.map((movement: any) => movement.quantity_change)).toEqual([4, -2]);
    expect(first.body.data[0]).toMatchObject({
      quantity_after: 11,
      reason: 'CORRECTION',
      note: 'recount',
      actor: expect.stringMatching(/^api_key:/),
    });
    const rest = await request('GET', `${url}/movements?limit=2&cursor=${first.body.next_cursor}`);
    expect(rest.body.data.map((movement: any) => movement.quantity_change)).toEqual([-1, 10]);
    expect(rest.body.next_cursor).toBeNull();
    expect((await request('GET', `${url}/movements`, { key: null })).status).toBe(401);
    expect(await findInvariantViolations(db.schemaOwner())).toEqual([]);
  });

  it('transfers atomically, creating the destination level when needed', async () => {
    const { request, createStore, db } = harness();
    const { product, store } = await level(10);
    const destination = await createStore();
    const body = {
      product_id: product.id,
      from_store_id: store,
      to_store_id: destination,
      quantity: 4,
      reason: 'rebalance',
    };
    const moved = await request('POST', '/api/v1/stock/transfer', { body });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({
      quantity: 4,
      from: { store_id: store, quantity: 6 },
      to: { store_id: destination, quantity: 4 },
    });
    const tooMuch = await request('POST', '/api/v1/stock/transfer', { body: { ...body, quantity: 7 } });
    expect(tooMuch.status).toBe(409);
    expect(tooMuch.body).toMatchObject({ code: 'INSUFFICIENT_STOCK', available: 6 });
    const sameStore = await request('POST', '/api/v1/stock/transfer', {
      body: { ...body, to_store_id: store },
    });
    expect(sameStore.status).toBe(422);
    const unknownStore = await request('POST', '/api/v1/stock/transfer', {
      body: { ...body, to_store_id: 'NOPE-1' },
    });
    expect(unknownStore.status).toBe(404);
    const events = await db
      .schemaOwner()
      .query<{ event_type: string }>('SELECT event_type FROM outbox_events ORDER BY position');
    expect(events.rows.map((row) => row.event_type)).toContain('stock.transferred');
    expect(await findInvariantViolations(db.schemaOwner())).toEqual([]);
  });

  it('lists levels whose available quantity is below their threshold', async () => {
    const { request, createProduct, stock } = harness();
    const { store, product } = await level(3, 5);
    const healthy = await createProduct();
    await stock(healthy.id, store, 50, 5);
    const low = await request('GET', '/api/v1/stock/low-stock');
    expect(low.body.data.map((row: any) => row.product_id)).toEqual([product.id]);
    const inStore = await request('GET', `/api/v1/stock/low-stock?store_id=${store}`);
    expect(inStore.body.data).toHaveLength(1);
    const elsewhere = await request('GET', '/api/v1/stock/low-stock?store_id=OTHER-1');
    expect(elsewhere.body.data).toEqual([]);
  });

  it('accepts If-Match: * as an explicit "any current version"', async () => {
    const { request } = harness();
    const { url } = await level(10);
    const any = await request('PUT', url, { body: { quantity: 3 }, headers: { 'if-match': '*' } });
    expect(any.status).toBe(200);
    expect(any.body).toMatchObject({ quantity: 3, version: 2 });
  });

  it("announces that a deleted product's levels no longer sell", async () => {
    const { request, db } = harness();
    const { product, url } = await level(10);
    expect((await request('DELETE', `/api/v1/products/${product.id}`)).status).toBe(204);
    const after = await request('GET', url, { key: null });
    expect(after.body).toMatchObject({ quantity: 10, available: 0 });
    const events = await db
      .schemaOwner()
      .query<{ envelope: any }>(
        `SELECT envelope FROM outbox_events WHERE event_type = 'stock.updated' ORDER BY position DESC LIMIT 1`,
      );
    expect(events.rows[0]?.envelope.data).toMatchObject({
      reason: 'PRODUCT_DELETED',
      available: 0,
      product_id: product.id,
    });
  });
});
