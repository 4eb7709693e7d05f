import Type, { type Static } from 'typebox';
import { PASSWORD_LENGTH_MAX, PASSWORD_LENGTH_MIN } from '../../platform/security/password.js';
import { StoreId } from '../catalog/index.js';

export const TENANT_ID_PATTERN = '^[a-z0-9][a-z0-9-]{1,49}$';
/** A list of stores a user or key works in: bounded so a token stays small. */
export const STORE_IDS_MAX = 100;

export const TenantId = Type.String({
  pattern: TENANT_ID_PATTERN,
  description: 'Tenant id, e.g. acme-retail',
});
export const Email = Type.String({ format: 'email', minLength: 3, maxLength: 254 });
export const Password = Type.String({ minLength: PASSWORD_LENGTH_MIN, maxLength: PASSWORD_LENGTH_MAX });
export const RoleSchema = Type.Union([
  Type.Literal('admin'),
  Type.Literal('manager'),
  Type.Literal('vendor'),
  Type.Literal('customer'),
]);
const StoreIds = Type.Union(
  [Type.Array(StoreId, { maxItems: STORE_IDS_MAX, uniqueItems: true }), Type.Null()],
  {
    description: 'Stores this principal works in; null means every store of the tenant',
  },
);
export const UserId = Type.String({ format: 'uuid' });

export const TenantCreate = Type.Object(
  {
    id: TenantId,
    name: Type.String({ minLength: 1, maxLength: 200 }),
    admin_email: Email,
    admin_password: Password,
  },
  { additionalProperties: false },
);
export type TenantCreate = Static<typeof TenantCreate>;

export const Tenant = Type.Object({
  id: Type.String(),
  name: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
});
export type Tenant = Static<typeof Tenant>;

export const TenantCreated = Type.Object({ tenant: Tenant, admin_user_id: Type.String() });

export const Register = Type.Object(
  { tenant: TenantId, email: Email, password: Password },
  { additionalProperties: false },
);
export type Register = Static<typeof Register>;

/** Any password length is accepted at login (up to the hashing bound): rules may have changed since. */
export const Login = Type.Object(
  {
    tenant: TenantId,
    email: Type.String({ minLength: 1, maxLength: 254 }),
    password: Type.String({ minLength: 1, maxLength: PASSWORD_LENGTH_MAX }),
  },
  { additionalProperties: false },
);
export type Login = Static<typeof Login>;

export const RefreshRequest = Type.Object(
  { refresh_token: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);

export const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'Seconds the access token is valid' }),
  refresh_token: Type.String({ description: 'Single use: exchange it at /auth/refresh' }),
});
export type TokenResponse = Static<typeof TokenResponse>;

export const User = Type.Object({
  id: Type.String(),
  email: Type.String(),
  role: RoleSchema,
  store_ids: Type.Union([Type.Array(Type.String()), Type.Null()]),
  disabled: Type.Boolean(),
  version: Type.Integer(),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});
export type User = Static<typeof User>;

export const UserCreate = Type.Object(
  { email: Email, password: Password, role: RoleSchema, store_ids: Type.Optional(StoreIds) },
  { additionalProperties: false },
);
export type UserCreate = Static<typeof UserCreate>;

export const UserUpdate = Type.Object(
  {
    role: Type.Optional(RoleSchema),
    store_ids: Type.Optional(StoreIds),
    disabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UserUpdate = Static<typeof UserUpdate>;

export const ApiKeyCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    role: RoleSchema,
    store_ids: Type.Optional(StoreIds),
  },
  { additionalProperties: false },
);
export type ApiKeyCreate = Static<typeof ApiKeyCreate>;

export const ApiKey = Type.Object({
  id: Type.String(),
  name: Type.String(),
  prefix: Type.String({ description: 'The first characters of the key, to tell keys apart' }),
  role: RoleSchema,
  store_ids: Type.Union([Type.Array(Type.String()), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revoked_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
export type ApiKey = Static<typeof ApiKey>;

export const ApiKeyWithSecret = Type.Intersect([
  ApiKey,
  Type.Object({ key: Type.String({ description: 'The key itself: shown in this response only' }) }),
]);

export const AuditEntry = Type.Object({
  id: Type.String(),
  actor: Type.String(),
  action: Type.String(),
  target: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  details: Type.Record(Type.String(), Type.Unknown()),
  created_at: Type.String({ format: 'date-time' }),
});
export type AuditEntry = Static<typeof AuditEntry>;

export const Jwks = Type.Object({
  keys: Type.Array(
    Type.Object(
      {
        kty: Type.String(),
        crv: Type.String(),
        x: Type.String(),
        kid: Type.String(),
        alg: Type.String(),
        use: Type.String(),
      },
      { additionalProperties: false },
    ),
  ),
});
