import { expect, it } from 'vitest';
import { bearer, identityConfig, signedInUser } from '../identity/identity-support.js';
import { describeOnEachDatabase, OTHER_TENANT_KEY, type TestApp } from '../support/test-app.js';

/** OWASP API1:2023 Broken Object Level Authorization: ids of objects you may not see lead nowhere. */

async function reservationIn(t: TestApp, storeId: string, productId: string, token?: string) {
  const body = { product_id: productId, store_id: storeId, quantity: 1, customer_id: 'walk-in' };
  const response = await t.request(
    'POST',
    '/api/v1/reservations',
    token === undefined ? { body } : bearer(token, body),
  );
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body;
}

describeOnEachDatabase(
  'API1 object level authorization',
  (app) => {
    it("API1: another tenant's store, product, stock level, reservation and webhook are 404 by id", async () => {
      const t = app();
      const store = await t.createStore();
      const product = await t.createProduct();
      await t.stock(product.id, store, 5);
      const reservation = await reservationIn(t, store, product.id);
      const webhook = await t.request('POST', '/api/v1/webhooks', {
        body: { url: 'http://127.0.0.1:9/hooks', event_types: ['*'] },
      });
      expect(webhook.status).toBe(201);
      const foreign = { key: OTHER_TENANT_KEY };
      const urls = [
        `/api/v1/stores/${store}`,
        `/api/v1/products/${product.id}`,
        `/api/v1/stock/${product.id}/${store}`,
        `/api/v1/reservations/${reservation.reservation_id}`,
        `/api/v1/webhooks/${webhook.body.id}`,
      ];
      for (const url of urls) {
        expect((await t.request('GET', url, foreign)).status, url).toBe(404);
      }
      const cancel = await t.request(
        'POST',
        `/api/v1/reservations/${reservation.reservation_id}/cancel`,
        foreign,
      );
      expect(cancel.status).toBe(404);
      const adjust = await t.request('POST', `/api/v1/stock/${product.id}/${store}/adjust`, {
        ...foreign,
        body: { quantity_change: -1, reason: 'DAMAGE' },
      });
      expect(adjust.status).toBe(404);
      expect((await t.request('GET', `/api/v1/stock/${product.id}/${store}`)).body.quantity).toBe(5);
    });

    it("API1: a vendor cannot touch another store's stock (403), nor transfer out of it", async () => {
      const t = app();
      const mine = await t.createStore();
      const theirs = await t.createStore();
      const product = await t.createProduct();
      await t.stock(product.id, mine, 5);
      await t.stock(product.id, theirs, 5);
      const vendor = await signedInUser(t, 'vendor', [mine]);
      const own = await t.request(
        'POST',
        `/api/v1/stock/${product.id}/${mine}/adjust`,
        bearer(vendor.access_token, { quantity_change: 1, reason: 'RESTOCK' }),
      );
      expect(own.status, JSON.stringify(own.body)).toBe(200);
      const other = await t.request(
        'POST',
        `/api/v1/stock/${product.id}/${theirs}/adjust`,
        bearer(vendor.access_token, { quantity_change: -1, reason: 'DAMAGE' }),
      );
      expect(other.status).toBe(403);
      expect(other.body.code).toBe('FORBIDDEN');
      const transfer = await t.request(
        'POST',
        '/api/v1/stock/transfer',
        bearer(vendor.access_token, {
          product_id: product.id,
          from_store_id: theirs,
          to_store_id: mine,
          quantity: 1,
        }),
      );
      expect(transfer.status).toBe(403);
      const listing = await t.request('GET', `/api/v1/stock/store/${theirs}`, bearer(vendor.access_token));
      expect(listing.status).toBe(403);
      expect((await t.request('GET', `/api/v1/stock/${product.id}/${theirs}`)).body.quantity).toBe(5);
    });

    it("API1: a customer cannot read, confirm or cancel another customer's reservation (404)", async () => {
      const t = app();
      const store = await t.createStore();
      const product = await t.createProduct();
      await t.stock(product.id, store, 5);
      const alice = await signedInUser(t, 'customer');
      const bob = await signedInUser(t, 'customer');
      const alices = await reservationIn(t, store, product.id, alice.access_token);
      const url = `/api/v1/reservations/${alices.reservation_id}`;
      expect((await t.request('GET', url, bearer(alice.access_token))).status).toBe(200);
      for (const [method, path] of [
        ['GET', url],
        ['POST', `${url}/cancel`],
        ['POST', `${url}/confirm`],
      ] as const) {
        const response = await t.request(method, path, bearer(bob.access_token));
        expect(response.status, `${method} ${path}`).toBe(404);
        expect(response.body.code).toBe('RESERVATION_NOT_FOUND');
      }
      expect((await t.request('GET', url)).body.status).toBe('PENDING');
    });

    it('API1: a vendor does not see reservations of a store outside their list (404)', async () => {
      const t = app();
      const mine = await t.createStore();
      const theirs = await t.createStore();
      const product = await t.createProduct();
      await t.stock(product.id, theirs, 5);
      const reservation = await reservationIn(t, theirs, product.id);
      const vendor = await signedInUser(t, 'vendor', [mine]);
      const response = await t.request(
        'GET',
        `/api/v1/reservations/${reservation.reservation_id}`,
        bearer(vendor.access_token),
      );
      expect(response.status).toBe(404);
      const pending = await t.request(
        'GET',
        `/api/v1/reservations/store/${theirs}/pending`,
        bearer(vendor.access_token),
      );
      expect(pending.status).toBe(403);
    });
  },
  { ...identityConfig, webhookAllowPrivateTargets: true },
);
