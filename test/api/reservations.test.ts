import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { findInvariantViolations } from '../support/invariants.js';
import { describeOnEachDatabase } from '../support/test-app.js';

describeOnEachDatabase('reservations', (harness) => {
  async function stocked(quantity = 10) {
    const { createStore, createProduct, stock } = harness();
    const store = await createStore();
    const product = await createProduct();
    await stock(product.id, store, quantity);
    return { store, product, levelUrl: `/api/v1/stock/${product.id}/${store}` };
  }

  function reserve(
    productId: string,
    storeId: string,
    quantity: number,
    extra: Record<string, unknown> = {},
  ) {
    return harness().request('POST', '/api/v1/reservations', {
      body: { product_id: productId, store_id: storeId, quantity, customer_id: 'customer-1', ...extra },
    });
  }

  it('reserves with a time limit and holds the stock', async () => {
    const { request } = harness();
    const { store, product, levelUrl } = await stocked(10);
    const created = await reserve(product.id, store, 3, { ttl_seconds: 120 });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      status: 'PENDING',
      quantity: 3,
      customer_id: 'customer-1',
      expires_in_seconds: 120,
    });
    expect(Date.parse(created.body.expires_at) - Date.parse(created.body.created_at)).toBe(120_000);
    expect(created.headers['location']).toBe(`/api/v1/reservations/${created.body.reservation_id}`);
    const level = await request('GET', levelUrl, { key: null });
    expect(level.body).toMatchObject({ quantity: 10, reserved: 3, available: 7 });
    const fetched = await request('GET', `/api/v1/reservations/${created.body.reservation_id}`);
    expect(fetched.body.reservation_id).toBe(created.body.reservation_id);
    const defaultTtl = await reserve(product.id, store, 1);
    expect(defaultTtl.body.expires_in_seconds).toBe(600);
  });

  it('refuses more than is available with the available quantity, and reserves nothing', async () => {
    const { request, db } = harness();
    const { store, product, levelUrl } = await stocked(5);
    await reserve(product.id, store, 4);
    const refused = await reserve(product.id, store, 2);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'INSUFFICIENT_STOCK', available: 1, requested: 2 });
    expect((await request('GET', levelUrl, { key: null })).body.reserved).toBe(4);
    const missingLevel = await reserve(product.id, 'NOPE-1', 1);
    expect(missingLevel.status).toBe(404);
    expect(await findInvariantViolations(db.schemaOwner())).toEqual([]);
  });

  it('bounds the TTL and validates the body', async () => {
    const { store, product } = await stocked(5);
    const tooLong = await reserve(product.id, store, 1, { ttl_seconds: 999_999 });
    expect(tooLong.status).toBe(422);
    expect(tooLong.body.code).toBe('TTL_OUT_OF_RANGE');
    expect((await reserve(product.id, store, 1, { ttl_seconds: 0 })).status).toBe(400);
    expect((await reserve(product.id, store, 0)).status).toBe(400);
    expect((await reserve(product.id, store, -1)).status).toBe(400);
    expect((await reserve(product.id, store, 1, { customer_id: '' })).status).toBe(400);
    expect(
      (
        await harness().request('POST', '/api/v1/reservations', {
          body: { product_id: product.id },
          key: null,
        })
      ).status,
    ).toBe(401);
  });

  it('confirms: on-hand and reserved both drop, a sale is in the ledger, confirming twice is harmless', async () => {
    const { request, db } = harness();
    const { store, product, levelUrl } = await stocked(10);
    const created = await reserve(product.id, store, 3);
    const id = created.body.reservation_id;
    const confirmed = await request('POST', `/api/v1/reservations/${id}/confirm`);
    expect(confirmed.status).toBe(200);
    expect(confirmed.body).toMatchObject({ status: 'CONFIRMED', expires_in_seconds: 0 });
    expect((await request('GET', levelUrl, { key: null })).body).toMatchObject({
      quantity: 7,
      reserved: 0,
      available: 7,
    });
    const again = await request('POST', `/api/v1/reservations/${id}/confirm`);
    expect(again.status).toBe(200);
    expect((await request('GET', levelUrl, { key: null })).body.quantity).toBe(7);
    const movements = await request('GET', `${levelUrl}/movements`);
    expect(movements.body.data[0]).toMatchObject({
      quantity_change: -3,
      reason: 'RESERVATION_CONFIRMED',
      reference_id: id,
    });
    const cancelConfirmed = await request('POST', `/api/v1/reservations/${id}/cancel`);
    expect(cancelConfirmed.status).toBe(409);
    expect(cancelConfirmed.body.code).toBe('RESERVATION_CONFIRMED');
    expect(await findInvariantViolations(db.schemaOwner())).toEqual([]);
  });

  it('cancels: the stock is released; cancelling twice is harmless; confirming a cancelled one is a 409', async () => {
    const { request } = harness();
    const { store, product, levelUrl } = await stocked(10);
    const id = (await reserve(product.id, store, 4)).body.reservation_id;
    const cancelled = await request('POST', `/api/v1/reservations/${id}/cancel`);
    expect(cancelled.body.status).toBe('CANCELLED');
    expect((await request('GET', levelUrl, { key: null })).body).toMatchObject({ quantity: 10, reserved: 0 });
    expect((await request('POST', `/api/v1/reservations/${id}/cancel`)).status).toBe(200);
    const confirm = await request('POST', `/api/v1/reservations/${id}/confirm`);
    expect(confirm.status).toBe(409);
    expect(confirm.body.code).toBe('RESERVATION_CANCELLED');
    expect((await request('GET', '/api/v1/reservations/01900000-0000-7000-8000-000000000000')).status).toBe(
      404,
    );
    expect((await request('POST', '/api/v1/reservations/not-a-uuid/confirm')).status).toBe(400);
  });

  it('expires at expires_at without being asked, releasing the stock; confirming then is a 409', async () => {
    const { request, db } = harness();
    const { store, product, levelUrl } = await stocked(10);
    const id = (await reserve(product.id, store, 6, { ttl_seconds: 1 })).body.reservation_id;
    expect((await request('GET', levelUrl, { key: null })).body.reserved).toBe(6);
    let status = 'PENDING';
    for (let attempt = 0; attempt < 50 && status === 'PENDING'; attempt += 1) {
      await sleep(100);
      status = (await request('GET', `/api/v1/reservations/${id}`)).body.status;
    }
    expect(status).toBe('EXPIRED');
    expect((await request('GET', levelUrl, { key: null })).body).toMatchObject({ quantity: 10, reserved: 0 });
    const confirm = await request('POST', `/api/v1/reservations/${id}/confirm`);
    expect(confirm.status).toBe(409);
    expect(confirm.body.code).toBe('RESERVATION_EXPIRED');
    const expiredEvents = await db
      .schemaOwner()
      .query(`SELECT 1 FROM outbox_events WHERE event_type = 'reservation.expired'`);
    expect(expiredEvents.rowCount).toBe(1);
    expect(await findInvariantViolations(db.schemaOwner())).toEqual([]);
  });

  it('reserves a basket all or nothing, naming every line that cannot be met', async () => {
    const { request, createStore, createProduct, stock, db } = harness();
    const store = await createStore();
    const other = await createStore();
    const shirt = await createProduct();
    const shoes = await createProduct();
    await stock(shirt.id, store, 5);
    await stock(shoes.id, other, 1);
    const ok = await request('POST', '/api/v1/reservations/batch', {
      body: {
        customer_id: 'basket-1',
        ttl_seconds: 300,
        items: [
          { product_id: shirt.id, store_id: store, quantity: 2 },
          { product_id: shoes.id, store_id: other, quantity: 1 },
        ],
      },
    });
    expect(ok.status).toBe(201);
    expect(ok.body.reservations).toHaveLength(2);
    expect(ok.body.reservations.map((row: any) => row.batch_id)).toEqual([
      ok.body.batch_id,
      ok.body.batch_id,
    ]);
    expect(ok.body.reservations[0]).toMatchObject({ product_id: shirt.id, quantity: 2, status: 'PENDING' });
    const refused = await request('POST', '/api/v1/reservations/batch', {
      body: {
        customer_id: 'basket-2',
        items: [
          { product_id: shirt.id, store_id: store, quantity: 3 },
          { product_id: shoes.id, store_id: other, quantity: 1 },
          { product_id: shirt.id, store_id: other, quantity: 1 },
        ],
      },
    });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('INSUFFICIENT_STOCK');
    expect(refused.body.lines).toEqual([
      { index: 1, product_id: shoes.id, store_id: other, requested: 1, available: 0 },
      { index: 2, product_id: shirt.id, store_id: other, requested: 1, available: 0 },
    ]);
    const shirtLevel = await request('GET', `/api/v1/stock/${shirt.id}/${store}`, { key: null });
    expect(shirtLevel.body.reserved).toBe(2);
    expect(
      (await request('POST', '/api/v1/reservations/batch', { body: { customer_id: 'x', items: [] } })).status,
    ).toBe(400);
    const tooMany = Array.from({ length: 51 }, () => ({
      product_id: shirt.id,
      store_id: store,
      quantity: 1,
    }));
    expect(
      (await request('POST', '/api/v1/reservations/batch', { body: { customer_id: 'x', items: tooMany } }))
        .status,
    ).toBe(400);
    expect(await findInvariantViolations(db.schemaOwner())).toEqual([]);
  });

  it('lists pending reservations of a store and of a level, and reports stats', async () => {
    const { request } = harness();
    const { store, product } = await stocked(20);
    const ids: string[] = [];
    for (let index = 0; index < 3; index += 1)
      ids.push((await reserve(product.id, store, 1)).body.reservation_id);
    await request('POST', `/api/v1/reservations/${ids[0]}/confirm`);
    await request('POST', `/api/v1/reservations/${ids[1]}/cancel`);
    const pending = await request('GET', `/api/v1/reservations/store/${store}/pending`);
    expect(pending.body.data.map((row: any) => row.reservation_id)).toEqual([ids[2]]);
    const ofLevel = await request('GET', `/api/v1/reservations/product/${product.id}/store/${store}?limit=2`);
    expect(ofLevel.body.data).toHaveLength(2);
    const rest = await request(
      'GET',
      `/api/v1/reservations/product/${product.id}/store/${store}?limit=2&cursor=${ofLevel.body.next_cursor}`,
    );
    expect(rest.body.data).toHaveLength(1);
    const confirmedOnly = await request(
      'GET',
      `/api/v1/reservations/product/${product.id}/store/${store}?status=CONFIRMED`,
    );
    expect(confirmedOnly.body.data.map((row: any) => row.reservation_id)).toEqual([ids[0]]);
    const stats = await request('GET', '/api/v1/reservations/stats');
    expect(stats.body).toMatchObject({
      pending: { count: 1, units: 1 },
      confirmed: { count: 1, units: 1 },
      cancelled: { count: 1, units: 1 },
      expired: { count: 0, units: 0 },
    });
    expect(stats.body.next_expiry_at).toEqual(expect.any(String));
    const statsElsewhere = await request('GET', '/api/v1/reservations/stats?store_id=NONE-1');
    expect(statsElsewhere.body.pending.count).toBe(0);
  });
});
