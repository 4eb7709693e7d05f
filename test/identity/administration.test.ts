import { expect, it, vi } from 'vitest';
import { describeOnEachDatabase } from '../support/test-app.js';
import { bearer, identityConfig, login, OPERATOR_KEY, PASSWORD, signedInUser } from './identity-support.js';

describeOnEachDatabase(
  'identity administration: tenants, users, API keys, audit',
  (app) => {
    it('the operator creates a tenant whose first admin signs in to it, and only to it', async () => {
      const t = app();
      const id = `acme-${Date.now().toString(36)}`;
      const created = await t.request('POST', '/api/v1/tenants', {
        key: OPERATOR_KEY,
        body: { id, name: 'Acme', admin_email: 'boss@acme.example', admin_password: PASSWORD },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body.tenant).toMatchObject({ id, name: 'Acme' });
      expect((await t.request('GET', `/api/v1/tenants/${id}`, { key: OPERATOR_KEY })).body.id).toBe(id);
      const duplicate = await t.request('POST', '/api/v1/tenants', {
        key: OPERATOR_KEY,
        body: { id, name: 'Acme again', admin_email: 'x@acme.example', admin_password: PASSWORD },
      });
      expect(duplicate.status).toBe(409);

      const tokens = await login(t, 'boss@acme.example', PASSWORD, id);
      const users = await t.request('GET', '/api/v1/users', bearer(tokens.access_token));
      expect(users.body.data).toHaveLength(1);
      expect(users.body.data[0]).toMatchObject({ role: 'admin', store_ids: null });
      const audit = await t.request('GET', '/api/v1/audit', bearer(tokens.access_token));
      expect(audit.body.data.map((entry: { action: string }) => entry.action)).toEqual(
        expect.arrayContaining(['tenant.created', 'user.created', 'auth.login']),
      );
      // Not the default tenant's data.
      const store = await t.createStore();
      expect((await t.request('GET', `/api/v1/stores/${store}`, bearer(tokens.access_token))).status).toBe(
        404,
      );
      // The admin of the default tenant cannot sign in there.
      const wrongTenant = await t.request('POST', '/api/v1/auth/login', {
        key: null,
        body: { tenant: 'default', email: 'boss@acme.example', password: PASSWORD },
      });
      expect(wrongTenant.status).toBe(401);
    });

    it('admins create, page, read and change users; each change is audited', async () => {
      const t = app();
      const emails = ['a@example.com', 'b@example.com', 'c@example.com'];
      for (const email of emails) {
        const response = await t.request('POST', '/api/v1/users', {
          body: { email, password: PASSWORD, role: 'vendor', store_ids: ['MAD-001'] },
        });
        expect(response.status).toBe(201);
      }
      const first = await t.request('GET', '/api/v1/users?limit=2');
      expect(first.body.data).toHaveLength(2);
      const second = await t.request('GET', `/api/v1/users?limit=2&cursor=${first.body.next_cursor}`);
      expect(second.body.data).toHaveLength(1);
      expect(second.body.next_cursor).toBeNull();
      const ids = [...first.body.data, ...second.body.data].map((user: { email: string }) => user.email);
      expect(ids.sort()).toEqual(emails);

      const target = first.body.data[0];
      const changed = await t.request('PATCH', `/api/v1/users/${target.id}`, {
        body: { role: 'manager', store_ids: ['MAD-001', 'BCN-001'] },
      });
      expect(changed.status).toBe(200);
      expect(changed.body).toMatchObject({ role: 'manager', store_ids: ['MAD-001', 'BCN-001'], version: 2 });
      expect((await t.request('DELETE', `/api/v1/users/${target.id}`)).status).toBe(204);
      expect((await t.request('GET', `/api/v1/users/${target.id}`)).body.disabled).toBe(true);

      const audit = await t.request('GET', '/api/v1/audit?limit=200');
      const actions = audit.body.data
        .filter((entry: { target: string }) => entry.target === `user:${target.id}`)
        .map((entry: { action: string; actor: string }) => entry.action);
      expect(actions.sort()).toEqual([
        'user.created',
        'user.disabled',
        'user.role_changed',
        'user.stores_changed',
      ]);
      const roleChange = audit.body.data.find(
        (entry: { action: string }) => entry.action === 'user.role_changed',
      );
      expect(roleChange.actor).toMatch(/^api_key:/);
      expect(roleChange.details).toEqual({ from: 'vendor', to: 'manager' });
      const filtered = await t.request('GET', '/api/v1/audit?action=user.disabled');
      expect(filtered.body.data).toHaveLength(1);
      expect((await t.request('GET', '/api/v1/users/0190f0e0-0000-7000-8000-000000000000')).status).toBe(404);
      const forged = Buffer.from(JSON.stringify(['not-a-uuid'])).toString('base64url');
      for (const list of ['users', 'api-keys', 'audit']) {
        const response = await t.request('GET', `/api/v1/${list}?cursor=${forged}`);
        expect(response.status, list).toBe(400);
        expect(response.body.code).toBe('INVALID_CURSOR');
      }
    });

    it('a duplicate email in the tenant is a 409, and a weak password a 400', async () => {
      const t = app();
      const body = { email: 'dup@example.com', password: PASSWORD, role: 'vendor' };
      expect((await t.request('POST', '/api/v1/users', { body })).status).toBe(201);
      const again = await t.request('POST', '/api/v1/users', { body: { ...body, email: 'DUP@example.com' } });
      expect(again.status).toBe(409);
      expect(again.body.code).toBe('EMAIL_ALREADY_REGISTERED');
      const weak = await t.request('POST', '/api/v1/users', {
        body: { ...body, email: 'w@example.com', password: 'short' },
      });
      expect(weak.status).toBe(400);
    });

    it('API keys: shown once, scoped by role and stores, listed without the key, revoked at once', async () => {
      const t = app();
      const store = await t.createStore();
      const other = await t.createStore();
      const product = await t.createProduct();
      await t.stock(product.id, store, 2);
      await t.stock(product.id, other, 2);
      const created = await t.request('POST', '/api/v1/api-keys', {
        body: { name: 'pos tablet', role: 'vendor', store_ids: [store] },
      });
      expect(created.status).toBe(201);
      expect(created.headers['cache-control']).toBe('no-store');
      const key = created.body.key as string;
      const adjust = (storeId: string) =>
        t.request('POST', `/api/v1/stock/${product.id}/${storeId}/adjust`, {
          key,
          body: { quantity_change: 1, reason: 'RESTOCK' },
        });
      expect((await adjust(store)).status).toBe(200);
      expect((await adjust(other)).status).toBe(403);
      expect((await t.request('GET', '/api/v1/users', { key })).status).toBe(403);

      const listed = await t.request('GET', '/api/v1/api-keys');
      const entry = listed.body.data.find((candidate: { id: string }) => candidate.id === created.body.id);
      expect(entry).toMatchObject({
        name: 'pos tablet',
        role: 'vendor',
        store_ids: [store],
        revoked_at: null,
      });
      expect(entry.prefix).toBe(key.slice(0, entry.prefix.length));
      expect(entry.key).toBeUndefined();
      // The last use is written beside the request that used the key, not before its answer.
      await vi.waitFor(
        async () => {
          const relisted = await t.request('GET', '/api/v1/api-keys');
          const used = relisted.body.data.find(
            (candidate: { id: string }) => candidate.id === created.body.id,
          );
          expect(used.last_used_at).not.toBeNull();
        },
        { timeout: 5_000, interval: 25 },
      );

      expect((await t.request('DELETE', `/api/v1/api-keys/${created.body.id}`)).status).toBe(204);
      expect((await adjust(store)).status).toBe(401);
      const revoked = await t.request('GET', '/api/v1/api-keys');
      expect(
        revoked.body.data.find((candidate: { id: string }) => candidate.id === created.body.id).revoked_at,
      ).not.toBeNull();
      const audit = await t.request('GET', '/api/v1/audit');
      expect(audit.body.data.map((row: { action: string }) => row.action)).toEqual(
        expect.arrayContaining(['api_key.created', 'api_key.revoked']),
      );
      expect(
        (await t.request('DELETE', '/api/v1/api-keys/0190f0e0-0000-7000-8000-000000000000')).status,
      ).toBe(404);
    });

    it('a key is refused for another tenant alike on its first request and once this instance knows it', async () => {
      const t = app();
      const created = await t.request('POST', '/api/v1/api-keys', {
        body: { name: 'kiosk', role: 'vendor' },
      });
      const key = created.body.key as string;
      const asOtherTenant = () =>
        t.request('GET', '/api/v1/stores', { key, headers: { 'x-tenant-id': 'other-tenant' } });
      // First use: the key is looked up in the database.
      const looked = await asOtherTenant();
      // Verified now: the next requests are answered from what this instance remembers.
      expect((await t.request('GET', '/api/v1/stores', { key })).status).toBe(200);
      const recognised = await asOtherTenant();
      for (const refused of [looked, recognised]) {
        expect(refused.status).toBe(403);
        expect(refused.headers['content-type']).toContain('application/problem+json');
        expect(refused.body.detail).toBe('The credentials belong to another tenant');
      }
    });

    it('the OpenAPI document describes every identity route, with tags, bodies and responses', async () => {
      const t = app();
      const document = (await t.request('GET', '/openapi.json', { key: null })).body;
      const schemes = Object.keys(document.components.securitySchemes);
      const expected: Array<[string, string]> = [
        ['/api/v1/auth/register', 'post'],
        ['/api/v1/auth/login', 'post'],
        ['/api/v1/auth/refresh', 'post'],
        ['/api/v1/auth/logout', 'post'],
        ['/api/v1/users', 'post'],
        ['/api/v1/users', 'get'],
        ['/api/v1/users/{userId}', 'patch'],
        ['/api/v1/api-keys', 'post'],
        ['/api/v1/api-keys/{keyId}', 'delete'],
        ['/api/v1/audit', 'get'],
        ['/api/v1/tenants', 'post'],
        ['/api/v1/tenants/{tenantId}', 'get'],
        ['/.well-known/jwks.json', 'get'],
      ];
      for (const [path, method] of expected) {
        const operation = document.paths[path]?.[method];
        expect(operation, `${method} ${path}`).toBeDefined();
        expect(operation.tags.length).toBeGreaterThan(0);
        expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(['4XX']));
        if (method === 'post' && !path.endsWith('logout')) {
          expect(operation.requestBody.content['application/json'].schema.additionalProperties).toBe(false);
        }
      }
      for (const item of Object.values(document.paths) as Array<Record<string, { security?: object[] }>>) {
        for (const operation of Object.values(item)) {
          for (const requirement of operation.security ?? []) {
            for (const scheme of Object.keys(requirement)) expect(schemes).toContain(scheme);
          }
        }
      }
    });

    it('a role change applies to the next request of a signed-in user, without a new token', async () => {
      const t = app();
      const user = await signedInUser(t, 'vendor', ['MAD-001']);
      expect((await t.request('GET', '/api/v1/stock/low-stock', bearer(user.access_token))).status).toBe(403);
      await t.request('PATCH', `/api/v1/users/${user.id}`, { body: { store_ids: null } });
      expect((await t.request('GET', '/api/v1/stock/low-stock', bearer(user.access_token))).status).toBe(200);
    });
  },
  identityConfig,
);
