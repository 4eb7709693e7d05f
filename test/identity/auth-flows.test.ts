import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { expect, it } from 'vitest';
import { describeOnEachDatabase } from '../support/test-app.js';
import { bearer, DEFAULT_TENANT, identityConfig, login, PASSWORD, signedInUser } from './identity-support.js';

describeOnEachDatabase(
  'identity: register, login, refresh, logout, JWKS',
  (app) => {
    it('registers a customer who can sign in and use the access token', async () => {
      const t = app();
      const email = 'Ada@Example.com';
      const registered = await t.request('POST', '/api/v1/auth/register', {
        key: null,
        body: { tenant: DEFAULT_TENANT, email, password: PASSWORD },
      });
      expect(registered.status).toBe(201);
      expect(registered.body).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
      expect(registered.headers['cache-control']).toBe('no-store');

      const tokens = await login(t, 'ada@example.com');
      const store = await t.createStore();
      const product = await t.createProduct();
      await t.stock(product.id, store, 5);
      const reserved = await t.request(
        'POST',
        '/api/v1/reservations',
        bearer(tokens.access_token, {
          product_id: product.id,
          store_id: store,
          quantity: 1,
          customer_id: 'someone-else',
        }),
      );
      expect(reserved.status).toBe(201);
      const users = await t.request('GET', '/api/v1/users');
      const user = users.body.data.find(
        (candidate: { email: string }) => candidate.email === 'ada@example.com',
      );
      expect(user).toMatchObject({ role: 'customer', store_ids: [] });
      // A customer always reserves for themself.
      expect(reserved.body.customer_id).toBe(user.id);

      const again = await t.request('POST', '/api/v1/auth/register', {
        key: null,
        body: { tenant: DEFAULT_TENANT, email, password: PASSWORD },
      });
      expect(again.status).toBe(409);
    });

    it('answers the same 401 for an unknown email and a wrong password, and audits both', async () => {
      const t = app();
      const user = await signedInUser(t, 'manager');
      const unknown = await t.request('POST', '/api/v1/auth/login', {
        key: null,
        body: { tenant: DEFAULT_TENANT, email: 'nobody@example.com', password: PASSWORD },
      });
      const wrong = await t.request('POST', '/api/v1/auth/login', {
        key: null,
        body: { tenant: DEFAULT_TENANT, email: user.email, password: 'not the password' },
      });
      for (const response of [unknown, wrong]) {
        expect(response.status).toBe(401);
        expect(response.body.code).toBe('INVALID_CREDENTIALS');
        expect(response.body.detail).toBe(unknown.body.detail);
      }
      const audit = await t.request('GET', '/api/v1/audit?action=auth.login_failed');
      expect(audit.status).toBe(200);
      expect(audit.body.data).toHaveLength(2);
    });

    it('rotates refresh tokens, and a reused one revokes the whole family', async () => {
      const t = app();
      const user = await signedInUser(t, 'vendor');
      const first = await t.request('POST', '/api/v1/auth/refresh', {
        key: null,
        body: { refresh_token: user.refresh_token },
      });
      expect(first.status).toBe(200);
      expect(first.body.refresh_token).not.toBe(user.refresh_token);

      const reuse = await t.request('POST', '/api/v1/auth/refresh', {
        key: null,
        body: { refresh_token: user.refresh_token },
      });
      expect(reuse.status).toBe(401);
      expect(reuse.headers['www-authenticate']).toBe('Bearer');
      // The successor issued before the reuse is revoked too.
      const successor = await t.request('POST', '/api/v1/auth/refresh', {
        key: null,
        body: { refresh_token: first.body.refresh_token },
      });
      expect(successor.status).toBe(401);
      const audit = await t.request('GET', '/api/v1/audit?action=auth.refresh_reuse_detected');
      expect(audit.body.data).toHaveLength(1);
    });

    it('logout ends the session: its refresh token no longer works', async () => {
      const t = app();
      const user = await signedInUser(t, 'customer');
      const out = await t.request('POST', '/api/v1/auth/logout', {
        key: null,
        body: { refresh_token: user.refresh_token },
      });
      expect(out.status).toBe(204);
      const refresh = await t.request('POST', '/api/v1/auth/refresh', {
        key: null,
        body: { refresh_token: user.refresh_token },
      });
      expect(refresh.status).toBe(401);
    });

    it('publishes the keys that verify its access tokens at /.well-known/jwks.json', async () => {
      const t = app();
      const user = await signedInUser(t, 'manager', ['MAD-001']);
      const jwks = await t.request('GET', '/.well-known/jwks.json', { key: null });
      expect(jwks.status).toBe(200);
      const header = decodeProtectedHeader(user.access_token);
      expect(header.alg).toBe('EdDSA');
      expect(jwks.body.keys.map((key: { kid: string }) => key.kid)).toContain(header.kid);
      const { payload } = await jwtVerify(user.access_token, createLocalJWKSet(jwks.body), {
        issuer: 'omnistock',
        audience: 'omnistock-api',
      });
      expect(payload).toMatchObject({
        sub: user.id,
        tenant: DEFAULT_TENANT,
        role: 'manager',
        store_ids: ['MAD-001'],
      });
      expect(typeof payload.jti).toBe('string');
      expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(900);
    });
  },
  identityConfig,
);
