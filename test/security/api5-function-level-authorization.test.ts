import { expect, it } from 'vitest';
import {
  bearer,
  identityConfig,
  OPERATOR_KEY,
  PASSWORD,
  signedInUser,
} from '../identity/identity-support.js';
import { ADMIN_KEY, describeOnEachDatabase, type TestApp } from '../support/test-app.js';

/** OWASP API5:2023 Broken Function Level Authorization: admin functions refuse every other role. */

const ADMIN_CALLS: Array<[string, string, unknown?]> = [
  ['GET', '/api/v1/users'],
  ['POST', '/api/v1/users', { email: 'new-admin@example.com', password: PASSWORD, role: 'admin' }],
  ['GET', '/api/v1/api-keys'],
  ['POST', '/api/v1/api-keys', { name: 'mine', role: 'admin' }],
  ['GET', '/api/v1/audit'],
  ['GET', '/api/v1/webhooks'],
  ['POST', '/api/v1/webhooks', { url: 'http://127.0.0.1:9/hooks', event_types: ['*'] }],
  ['GET', '/api/v1/events'],
  ['POST', '/api/v1/events/replay', {}],
  ['GET', '/api/v1/events/pending'],
];

async function expectForbiddenEverywhere(t: TestApp, token: string): Promise<void> {
  for (const [method, url, body] of ADMIN_CALLS) {
    const response = await t.request(method, url, bearer(token, body));
    expect(response.status, `${method} ${url}`).toBe(403);
    expect(response.body.code).toBe('FORBIDDEN');
  }
}

describeOnEachDatabase(
  'API5 function level authorization',
  (app) => {
    it('API5: a vendor calling admin routes (users, api-keys, audit, webhooks, events) gets 403', async () => {
      const t = app();
      await expectForbiddenEverywhere(t, (await signedInUser(t, 'vendor', ['MAD-001'])).access_token);
    });

    it('API5: a customer calling admin routes gets 403', async () => {
      const t = app();
      await expectForbiddenEverywhere(t, (await signedInUser(t, 'customer')).access_token);
    });

    it('API5: a manager calling admin routes gets 403 (and cannot create an admin)', async () => {
      const t = app();
      await expectForbiddenEverywhere(t, (await signedInUser(t, 'manager')).access_token);
      const users = await t.request('GET', '/api/v1/users');
      expect(users.body.data.map((user: { role: string }) => user.role)).toEqual(['manager']);
    });

    it('API5: a customer or vendor cannot write the catalog; a customer cannot touch stock', async () => {
      const t = app();
      const store = await t.createStore();
      const product = await t.createProduct();
      await t.stock(product.id, store, 3);
      const customer = await signedInUser(t, 'customer');
      const vendor = await signedInUser(t, 'vendor', [store]);
      const product2 = { sku: 'EVIL-1', name: 'x', price_minor: 1, currency: 'EUR' };
      for (const token of [customer.access_token, vendor.access_token]) {
        expect((await t.request('POST', '/api/v1/products', bearer(token, product2))).status).toBe(403);
        expect(
          (await t.request('POST', '/api/v1/stores', bearer(token, { id: 'EVIL-1', name: 'x' }))).status,
        ).toBe(403);
      }
      const adjust = await t.request(
        'POST',
        `/api/v1/stock/${product.id}/${store}/adjust`,
        bearer(customer.access_token, { quantity_change: 10, reason: 'RESTOCK' }),
      );
      expect(adjust.status).toBe(403);
      expect((await t.request('GET', '/api/v1/stock/low-stock', bearer(customer.access_token))).status).toBe(
        403,
      );
      expect((await t.request('GET', `/api/v1/stock/${product.id}/${store}`)).body.quantity).toBe(3);
    });

    it('API5: the operator route refuses tenant admins, users and anonymous callers (401)', async () => {
      const t = app();
      const admin = await signedInUser(t, 'admin');
      const body = { id: 'evil-corp', name: 'Evil', admin_email: 'e@example.com', admin_password: PASSWORD };
      for (const options of [
        { key: null },
        { key: ADMIN_KEY },
        bearer(admin.access_token),
        { key: 'x'.repeat(40) },
      ]) {
        const response = await t.request('POST', '/api/v1/tenants', { ...options, body });
        expect(response.status).toBe(401);
      }
      expect((await t.request('GET', '/api/v1/tenants/evil-corp', { key: OPERATOR_KEY })).status).toBe(404);
    });
  },
  { ...identityConfig, webhookAllowPrivateTargets: true },
);

describeOnEachDatabase('API5 operator routes without an operator key', (app) => {
  it('API5: without OMNISTOCK_OPERATOR_API_KEY the tenant routes do not exist (404)', async () => {
    const t = app();
    const body = { id: 'evil-corp', name: 'Evil', admin_email: 'e@example.com', admin_password: PASSWORD };
    const response = await t.request('POST', '/api/v1/tenants', { key: ADMIN_KEY, body });
    expect(response.status).toBe(404);
    expect(response.body.code).toBe('NOT_FOUND');
  });
});
