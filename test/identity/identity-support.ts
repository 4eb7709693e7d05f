import { expect } from 'vitest';
import type { TestApp } from '../support/test-app.js';

export const OPERATOR_KEY = 'test-operator-key-0123456789abcdef';
export const PASSWORD = 'correct horse battery staple';
export const DEFAULT_TENANT = 'default';
export const identityConfig = { operatorApiKey: OPERATOR_KEY };

let sequence = 0;

export interface SignedInUser {
  id: string;
  email: string;
  access_token: string;
  refresh_token: string;
}

/** Creates a user with the admin key and signs them in. */
export async function signedInUser(
  t: TestApp,
  role: 'admin' | 'manager' | 'vendor' | 'customer',
  storeIds?: string[] | null,
): Promise<SignedInUser> {
  const email = `${role}-${Date.now().toString(36)}-${++sequence}@example.com`;
  const created = await t.request('POST', '/api/v1/users', {
    body: { email, password: PASSWORD, role, ...(storeIds === undefined ? {} : { store_ids: storeIds }) },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const tokens = await login(t, email);
  return { id: created.body.id, email, ...tokens };
}

export async function login(
  t: TestApp,
  email: string,
  password = PASSWORD,
  tenant = DEFAULT_TENANT,
): Promise<{ access_token: string; refresh_token: string }> {
  const response = await t.request('POST', '/api/v1/auth/login', {
    key: null,
    body: { tenant, email, password },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

/** Request options that present a bearer token and no API key. */
export function bearer(token: string, body?: unknown) {
  return {
    key: null,
    headers: { authorization: `Bearer ${token}` },
    ...(body === undefined ? {} : { body }),
  };
}
