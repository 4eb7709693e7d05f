import { expect, it } from 'vitest';
import {
  bearer,
  DEFAULT_TENANT,
  identityConfig,
  PASSWORD,
  signedInUser,
} from '../identity/identity-support.js';
import { describeOnEachDatabase } from '../support/test-app.js';

/** OWASP API3:2023 Broken Object Property Level Authorization: no mass assignment, no secrets out. */

describeOnEachDatabase(
  'API3 object property level authorization',
  (app) => {
    it('API3: self-registration cannot choose a role or stores (mass assignment refused, nothing created)', async () => {
      const t = app();
      for (const extra of [{ role: 'admin' }, { store_ids: null }, { tenant_id: 'other-tenant' }]) {
        const response = await t.request('POST', '/api/v1/auth/register', {
          key: null,
          body: { tenant: DEFAULT_TENANT, email: 'mallory@example.com', password: PASSWORD, ...extra },
        });
        expect(response.status).toBe(400);
        expect(response.body.code).toBe('VALIDATION_FAILED');
      }
      const users = await t.request('GET', '/api/v1/users');
      expect(users.body.data).toHaveLength(0);
    });

    it('API3: an admin cannot change their own role, stores or status', async () => {
      const t = app();
      const admin = await signedInUser(t, 'admin');
      for (const body of [{ role: 'customer' }, { store_ids: ['MAD-001'] }, { disabled: true }]) {
        const response = await t.request(
          'PATCH',
          `/api/v1/users/${admin.id}`,
          bearer(admin.access_token, body),
        );
        expect(response.status).toBe(403);
        expect(response.body.code).toBe('OWN_ACCOUNT_UNCHANGEABLE');
      }
      expect((await t.request('GET', `/api/v1/users/${admin.id}`)).body).toMatchObject({
        role: 'admin',
        disabled: false,
      });
    });

    it('API3: a vendor cannot raise their own role or widen their stores', async () => {
      const t = app();
      const vendor = await signedInUser(t, 'vendor', ['MAD-001']);
      for (const body of [{ role: 'admin' }, { store_ids: null }]) {
        const response = await t.request(
          'PATCH',
          `/api/v1/users/${vendor.id}`,
          bearer(vendor.access_token, body),
        );
        expect(response.status).toBe(403);
      }
      expect((await t.request('GET', `/api/v1/users/${vendor.id}`)).body).toMatchObject({
        role: 'vendor',
        store_ids: ['MAD-001'],
      });
    });

    it('API3: a tenant field in a body is refused: the tenant always comes from the credentials', async () => {
      const t = app();
      const user = await t.request('POST', '/api/v1/users', {
        body: { email: 'x@example.com', password: PASSWORD, role: 'vendor', tenant: 'other-tenant' },
      });
      expect(user.status).toBe(400);
      const key = await t.request('POST', '/api/v1/api-keys', {
        body: { name: 'k', role: 'admin', tenant_id: 'other-tenant' },
      });
      expect(key.status).toBe(400);
      const patch = await t.request('PATCH', '/api/v1/users/0190f0e0-0000-7000-8000-000000000000', {
        body: { tenant: 'other-tenant' },
      });
      expect(patch.status).toBe(400);
    });

    it('API3: no response carries a password hash or an API key hash', async () => {
      const t = app();
      const created = await t.request('POST', '/api/v1/users', {
        body: { email: 'v@example.com', password: PASSWORD, role: 'vendor', store_ids: ['MAD-001'] },
      });
      const key = await t.request('POST', '/api/v1/api-keys', {
        body: { name: 'pos', role: 'vendor', store_ids: ['MAD-001'] },
      });
      expect(key.body.key).toMatch(/^osk_/);
      const responses = [
        created,
        key,
        await t.request('GET', '/api/v1/users'),
        await t.request('GET', `/api/v1/users/${created.body.id}`),
        await t.request('PATCH', `/api/v1/users/${created.body.id}`, { body: { role: 'manager' } }),
        await t.request('GET', '/api/v1/api-keys'),
        await t.request('GET', '/api/v1/audit'),
      ];
      for (const response of responses) {
        expect(response.status).toBeLessThan(300);
        const text = JSON.stringify(response.body);
        expect(text).not.toMatch(/scrypt\$|password|key_hash|[0-9a-f]{64}/);
      }
      const listed = JSON.stringify((await t.request('GET', '/api/v1/api-keys')).body);
      expect(listed).not.toContain(key.body.key);
      expect(listed).toContain(key.body.prefix);
    });
  },
  identityConfig,
);
