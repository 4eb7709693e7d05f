import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { base64url, calculateJwkThumbprint, exportJWK, SignJWT } from 'jose';
import { expect, it } from 'vitest';
import {
  bearer,
  DEFAULT_TENANT,
  identityConfig,
  PASSWORD,
  signedInUser,
} from '../identity/identity-support.js';
import { describeOnEachDatabase, TEST_JWT_KEY, type TestApp } from '../support/test-app.js';

/** OWASP API2:2023 Broken Authentication: every forged, stale or revoked credential is a 401. */

async function kidOf(key: KeyObject): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(key));
}

interface Forgery {
  key?: KeyObject;
  kid?: string;
  claims?: Record<string, unknown>;
  issuer?: string;
  audience?: string;
  expiresAt?: number;
  notBefore?: number;
  issuedAt?: number;
}

async function forge(userId: string, forgery: Forgery = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const key = forgery.key ?? TEST_JWT_KEY;
  return new SignJWT({ tenant: DEFAULT_TENANT, role: 'admin', store_ids: null, ...forgery.claims })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: forgery.kid ?? (await kidOf(TEST_JWT_KEY)) })
    .setSubject(userId)
    .setIssuer(forgery.issuer ?? 'omnistock')
    .setAudience(forgery.audience ?? 'omnistock-api')
    .setIssuedAt(forgery.issuedAt ?? now)
    .setNotBefore(forgery.notBefore ?? now)
    .setExpirationTime(forgery.expiresAt ?? now + 600)
    .setJti(`jti-${now}-${Math.random()}`)
    .sign(key);
}

async function expectRefused(t: TestApp, token: string): Promise<void> {
  const response = await t.request('GET', '/api/v1/users', bearer(token));
  expect(response.status).toBe(401);
  expect(response.headers['www-authenticate']).toBe('Bearer');
  expect(response.headers['content-type']).toContain('application/problem+json');
  expect(response.body.code).toBe('UNAUTHENTICATED');
}

describeOnEachDatabase(
  'API2 broken authentication',
  (app) => {
    it('API2: a token forged with our key for a real admin is accepted (the forgeries below differ in one thing each)', async () => {
      const t = app();
      const admin = await signedInUser(t, 'admin');
      const response = await t.request('GET', '/api/v1/users', bearer(await forge(admin.id)));
      expect(response.status).toBe(200);
    });

    it('API2: a tampered payload (role raised, signature kept) is refused', async () => {
      const t = app();
      const vendor = await signedInUser(t, 'vendor');
      const [header, payload, signature] = vendor.access_token.split('.') as [string, string, string];
      const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload)));
      const tampered = base64url.encode(JSON.stringify({ ...claims, role: 'admin', store_ids: null }));
      await expectRefused(t, `${header}.${tampered}.${signature}`);
    });

    it('API2: an expired token is refused', async () => {
      const t = app();
      const admin = await signedInUser(t, 'admin');
      const past = Math.floor(Date.now() / 1000) - 3600;
      await expectRefused(
        t,
        await forge(admin.id, { issuedAt: past - 900, notBefore: past - 900, expiresAt: past }),
      );
    });

    it('API2: a token not valid yet (nbf in the future) is refused', async () => {
      const t = app();
      const admin = await signedInUser(t, 'admin');
      const future = Math.floor(Date.now() / 1000) + 3600;
      await expectRefused(t, await forge(admin.id, { notBefore: future, expiresAt: future + 600 }));
    });

    it('API2: an unsigned token (alg: none) is refused', async () => {
      const t = app();
      const admin = await signedInUser(t, 'admin');
      const now = Math.floor(Date.now() / 1000);
      const header = base64url.encode(
        JSON.stringify({ alg: 'none', typ: 'JWT', kid: await kidOf(TEST_JWT_KEY) }),
      );
      const payload = base64url.encode(
        JSON.stringify({
          sub: admin.id,
          tenant: DEFAULT_TENANT,
          role: 'admin',
          iss: 'omnistock',
          aud: 'omnistock-api',
          iat: now,
          exp: now + 600,
          jti: 'none',
        }),
      );
      await expectRefused(t, `${header}.${payload}.`);
    });

    it('API2: an HMAC token keyed with the published public key (algorithm confusion) is refused', async () => {
      const t = app();
      const admin = await signedInUser(t, 'admin');
      const jwks = await t.request('GET', '/.well-known/jwks.json', { key: null });
      const secret = new TextEncoder().encode(JSON.stringify(jwks.body.keys[0]));
      const token = await new SignJWT({ tenant: DEFAULT_TENANT })
        .setProtectedHeader({ alg: 'HS256', kid: jwks.body.keys[0].kid })
        .setSubject(admin.id)
        .setIssuer('omnistock')
        .setAudience('omnistock-api')
        .setIssuedAt()
        .setExpirationTime('10m')
        .setJti('hs')
        .sign(secret);
      await expectRefused(t, token);
    });

    it('API2: a token signed by another key, under our kid, is refused', async () => {
      const t = app();
      const admin = await signedInUser(t, 'admin');
      const { privateKey } = generateKeyPairSync('ed25519');
      await expectRefused(t, await forge(admin.id, { key: privateKey }));
    });

    it('API2: a token naming an unknown kid is refused', async () => {
      const t = app();
      const admin = await signedInUser(t, 'admin');
      await expectRefused(t, await forge(admin.id, { kid: 'not-our-key' }));
    });

    it('API2: a token for another issuer or audience is refused', async () => {
      const t = app();
      const admin = await signedInUser(t, 'admin');
      await expectRefused(t, await forge(admin.id, { issuer: 'https://elsewhere.example' }));
      await expectRefused(t, await forge(admin.id, { audience: 'another-api' }));
    });

    it('API2: a token claiming another tenant for a user of this one is refused', async () => {
      const t = app();
      const admin = await signedInUser(t, 'admin');
      await expectRefused(t, await forge(admin.id, { claims: { tenant: 'other-tenant' } }));
    });

    it('API2: reusing a spent refresh token revokes the whole family', async () => {
      const t = app();
      const user = await signedInUser(t, 'customer');
      const rotated = await t.request('POST', '/api/v1/auth/refresh', {
        key: null,
        body: { refresh_token: user.refresh_token },
      });
      expect(rotated.status).toBe(200);
      const reuse = await t.request('POST', '/api/v1/auth/refresh', {
        key: null,
        body: { refresh_token: user.refresh_token },
      });
      expect(reuse.status).toBe(401);
      const next = await t.request('POST', '/api/v1/auth/refresh', {
        key: null,
        body: { refresh_token: rotated.body.refresh_token },
      });
      expect(next.status).toBe(401);
    });

    it('API2: a disabled user loses access token, refresh token and login at once', async () => {
      const t = app();
      const manager = await signedInUser(t, 'manager');
      expect((await t.request('GET', '/api/v1/stock/low-stock', bearer(manager.access_token))).status).toBe(
        200,
      );
      const disabled = await t.request('PATCH', `/api/v1/users/${manager.id}`, { body: { disabled: true } });
      expect(disabled.status).toBe(200);
      expect(disabled.body.disabled).toBe(true);
      expect((await t.request('GET', '/api/v1/stock/low-stock', bearer(manager.access_token))).status).toBe(
        401,
      );
      const refresh = await t.request('POST', '/api/v1/auth/refresh', {
        key: null,
        body: { refresh_token: manager.refresh_token },
      });
      expect(refresh.status).toBe(401);
      const again = await t.request('POST', '/api/v1/auth/login', {
        key: null,
        body: { tenant: DEFAULT_TENANT, email: manager.email, password: PASSWORD },
      });
      expect(again.status).toBe(401);
      expect(again.body.code).toBe('INVALID_CREDENTIALS');
    });

    it('API2: a revoked API key is refused', async () => {
      const t = app();
      const created = await t.request('POST', '/api/v1/api-keys', { body: { name: 'pos', role: 'admin' } });
      expect(created.status).toBe(201);
      expect((await t.request('GET', '/api/v1/api-keys', { key: created.body.key })).status).toBe(200);
      expect((await t.request('DELETE', `/api/v1/api-keys/${created.body.id}`)).status).toBe(204);
      const refused = await t.request('GET', '/api/v1/api-keys', { key: created.body.key });
      expect(refused.status).toBe(401);
      expect(refused.headers['www-authenticate']).toBe('Bearer');
    });

    it('API2: garbage credentials are a 401, never a 500', async () => {
      const t = app();
      const attempts: Array<Record<string, string>> = [
        { authorization: 'Bearer abc.def.ghi' },
        { authorization: 'Bearer a.b' },
        { authorization: 'Bearer ..' },
        { authorization: 'Basic dXNlcjpwYXNz' },
        { authorization: `Bearer ${'x'.repeat(5000)}` },
        { 'x-api-key': 'osk_not-a-key' },
        { 'x-api-key': 'eyJhbGciOiJFZERTQSJ9.e30.AAAA' },
      ];
      for (const headers of attempts) {
        const response = await t.request('GET', '/api/v1/users', { key: null, headers });
        expect(response.status, JSON.stringify(headers).slice(0, 60)).toBe(401);
      }
    });
  },
  identityConfig,
);
