import { expect, it } from 'vitest';
import { StoreService } from '../../src/modules/catalog/index.js';
import type { Queryable } from '../../src/platform/db/database.js';
import { describeOnEachDatabase, OTHER_TENANT_KEY } from '../support/test-app.js';

describeOnEachDatabase('stores and products', (harness) => {
  it('creates, gets and lists stores with cursor pagination', async () => {
    const { request } = harness();
    for (const id of ['MAD-001', 'BCN-001', 'VAL-001']) {
      const created = await request('POST', '/api/v1/stores', {
        body: { id, name: `Store ${id}`, kind: 'store' },
      });
      expect(created.status).toBe(201);
      expect(created.headers['location']).toBe(`/api/v1/stores/${id}`);
    }
    const first = await request('GET', '/api/v1/stores?limit=2', { key: null });
    expect(first.status).toBe(200);
    expect(first.body.data.map((store: { id: string }) => store.id)).toEqual(['BCN-001', 'MAD-001']);
    const second = await request('GET', `/api/v1/stores?limit=2&cursor=${first.body.next_cursor}`, {
      key: null,
    });
    expect(second.body).toMatchObject({
      data: [{ id: 'VAL-001', name: 'Store VAL-001', kind: 'store' }],
      next_cursor: null,
    });
    const one = await request('GET', '/api/v1/stores/MAD-001', { key: null });
    expect(one.body).toMatchObject({ id: 'MAD-001', kind: 'store' });
  });

  it('refuses a duplicate store id, a malformed id and an unknown store', async () => {
    const { request } = harness();
    await harness().createStore('MAD-001');
    const duplicate = await request('POST', '/api/v1/stores', { body: { id: 'MAD-001', name: 'Again' } });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.code).toBe('STORE_ALREADY_EXISTS');
    expect(duplicate.headers['content-type']).toContain('application/problem+json');
    const malformed = await request('POST', '/api/v1/stores', { body: { id: 'M!', name: 'Bad' } });
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors).toEqual([expect.objectContaining({ field: 'body.id' })]);
    const badKind = await request('POST', '/api/v1/stores', {
      body: { id: 'OK-001', name: 'x', kind: 'shop' },
    });
    expect(badKind.status).toBe(400);
    const missing = await request('GET', '/api/v1/stores/NOPE-001', { key: null });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('STORE_NOT_FOUND');
  });

  it('creates a product with integer minor-unit prices and reads it by id and SKU', async () => {
    const { request } = harness();
    const created = await request('POST', '/api/v1/products', {
      body: {
        sku: 'TSHIRT-M',
        name: 'T-shirt M',
        description: 'Cotton',
        category: 'apparel',
        price_minor: 1299,
        currency: 'EUR',
      },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      sku: 'TSHIRT-M',
      price_minor: 1299,
      currency: 'EUR',
      version: 1,
      category: 'apparel',
    });
    expect(created.headers['etag']).toBe('"1"');
    const byId = await request('GET', `/api/v1/products/${created.body.id}`, { key: null });
    expect(byId.body).toEqual(created.body);
    const bySku = await request('GET', '/api/v1/products/sku/TSHIRT-M', { key: null });
    expect(bySku.body.id).toBe(created.body.id);
    const unknownSku = await request('GET', '/api/v1/products/sku/NOPE', { key: null });
    expect(unknownSku.status).toBe(404);
  });

  it('refuses floats, unknown currencies, duplicate SKUs and unknown fields', async () => {
    const { request } = harness();
    const base = { sku: 'A-1', name: 'A', price_minor: 100, currency: 'EUR' };
    expect((await request('POST', '/api/v1/products', { body: { ...base, price_minor: 12.5 } })).status).toBe(
      400,
    );
    expect(
      (await request('POST', '/api/v1/products', { body: { ...base, price_minor: '100' } })).status,
    ).toBe(400);
    expect((await request('POST', '/api/v1/products', { body: { ...base, price_minor: -1 } })).status).toBe(
      400,
    );
    const unknownCurrency = await request('POST', '/api/v1/products', { body: { ...base, currency: 'XYZ' } });
    expect(unknownCurrency.status).toBe(422);
    expect(unknownCurrency.body.code).toBe('UNKNOWN_CURRENCY');
    expect((await request('POST', '/api/v1/products', { body: { ...base, admin: true } })).status).toBe(400);
    expect((await request('POST', '/api/v1/products', { body: base })).status).toBe(201);
    const duplicate = await request('POST', '/api/v1/products', { body: { ...base, name: 'B' } });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.code).toBe('SKU_ALREADY_EXISTS');
    const list = await request('GET', '/api/v1/products', { key: null });
    expect(list.body.data).toHaveLength(1);
  });

  it('lists products by category with pagination', async () => {
    const { request, createProduct } = harness();
    for (let index = 0; index < 5; index += 1)
      await createProduct({ category: index % 2 === 0 ? 'shoes' : 'bags' });
    const shoes = await request('GET', '/api/v1/products?category=shoes&limit=2', { key: null });
    expect(shoes.body.data).toHaveLength(2);
    const rest = await request(
      'GET',
      `/api/v1/products?category=shoes&limit=2&cursor=${shoes.body.next_cursor}`,
      { key: null },
    );
    expect(rest.body.data).toHaveLength(1);
    expect(rest.body.next_cursor).toBeNull();
    expect((await request('GET', '/api/v1/products?limit=0', { key: null })).status).toBe(400);
    expect((await request('GET', '/api/v1/products?limit=1000', { key: null })).status).toBe(400);
    const badCursor = await request('GET', '/api/v1/products?cursor=bm9wZQ', { key: null });
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.code).toBe('INVALID_CURSOR');
  });

  it('updates a product only with the current version in If-Match', async () => {
    const { request, createProduct } = harness();
    const product = await createProduct({ sku: 'UPD-1' });
    const body = { sku: 'UPD-1', name: 'Renamed', price_minor: 2500, currency: 'USD' };
    const unconditional = await request('PUT', `/api/v1/products/${product.id}`, { body });
    expect(unconditional.status).toBe(428);
    const updated = await request('PUT', `/api/v1/products/${product.id}`, {
      body,
      headers: { 'if-match': '"1"' },
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ name: 'Renamed', version: 2, currency: 'USD' });
    expect(updated.headers['etag']).toBe('"2"');
    const stale = await request('PUT', `/api/v1/products/${product.id}`, {
      body,
      headers: { 'if-match': '"1"' },
    });
    expect(stale.status).toBe(412);
    expect(stale.body).toMatchObject({ code: 'VERSION_CONFLICT', current_version: 2 });
  });

  it('deletes a product, frees its SKU, and refuses while stock is reserved', async () => {
    const { request, createProduct, createStore, stock } = harness();
    const store = await createStore();
    const product = await createProduct({ sku: 'DEL-1' });
    await stock(product.id, store, 5);
    const reservation = await request('POST', '/api/v1/reservations', {
      body: { product_id: product.id, store_id: store, quantity: 2, customer_id: 'c-1' },
    });
    expect(reservation.status).toBe(201);
    const refused = await request('DELETE', `/api/v1/products/${product.id}`);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'PRODUCT_HAS_RESERVED_STOCK', reserved: 2 });
    await request('POST', `/api/v1/reservations/${reservation.body.reservation_id}/cancel`);
    const deleted = await request('DELETE', `/api/v1/products/${product.id}`);
    expect(deleted.status).toBe(204);
    expect((await request('GET', `/api/v1/products/${product.id}`, { key: null })).status).toBe(404);
    const afterDelete = await request('POST', '/api/v1/reservations', {
      body: { product_id: product.id, store_id: store, quantity: 1, customer_id: 'c-1' },
    });
    expect(afterDelete.status).toBe(404);
    expect((await createProduct({ sku: 'DEL-1' })).sku).toBe('DEL-1');
  });

  it('keeps tenants apart: another tenant sees none of these products', async () => {
    const { request, createProduct } = harness();
    const product = await createProduct();
    const asOther = await request('GET', `/api/v1/products/${product.id}`, { key: OTHER_TENANT_KEY });
    expect(asOther.status).toBe(404);
    const otherList = await request('GET', '/api/v1/products', { key: OTHER_TENANT_KEY });
    expect(otherList.body.data).toEqual([]);
    const anonymousOther = await request('GET', `/api/v1/products/${product.id}`, {
      key: null,
      headers: { 'x-tenant-id': 'other-tenant' },
    });
    expect(anonymousOther.status).toBe(404);
  });

  it('reads a store once for other modules: stores never change, so it is not read again', async () => {
    const { db } = harness();
    await harness().createStore('MAD-001', 'Madrid centre');
    const stores = new StoreService(db);
    let statements = 0;
    const counted: Queryable = {
      query: (sql, params) => {
        statements += 1;
        return db.forTenant('default').query(sql, params);
      },
    };
    const first = await stores.getMany('default', ['MAD-001', 'NOT-YET'], counted);
    expect([...first.values()]).toEqual([expect.objectContaining({ id: 'MAD-001', name: 'Madrid centre' })]);
    expect(statements).toBe(1);
    const again = await stores.getMany('default', ['MAD-001'], counted);
    expect(again.get('MAD-001')?.name).toBe('Madrid centre');
    expect(statements).toBe(1);
    // A store not found may have been created since: it is asked for again, and found.
    await harness().createStore('NOT-YET', 'Later');
    const later = await stores.getMany('default', ['MAD-001', 'NOT-YET'], counted);
    expect(later.get('NOT-YET')?.name).toBe('Later');
    expect(statements).toBe(2);
    // Another tenant's store of the same id is its own.
    expect((await stores.getMany('other-tenant', ['MAD-001'], db.forTenant('other-tenant'))).size).toBe(0);
  });
});
