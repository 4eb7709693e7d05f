-- Identity: people who sign in (users), their refresh tokens, and the audit log of
-- security-relevant actions. Like every tenant-owned table, tenant_id leads each key and index.

CREATE TABLE users (
  tenant_id      text NOT NULL REFERENCES tenants (id),
  id             uuid NOT NULL,
  -- Stored lower-cased: one account per address, whatever the case it is typed in.
  email          text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
  -- scrypt$<log2 N>$<r>$<p>$<salt>$<hash>: the parameters travel with the hash so they can evolve.
  password_hash  text NOT NULL,
  role           text NOT NULL CHECK (role IN ('admin', 'manager', 'vendor', 'customer')),
  -- NULL: every store of the tenant.
  store_ids      text[],
  disabled_at    timestamptz,
  version        integer NOT NULL DEFAULT 1,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, email)
);

-- Refresh tokens are single-use and chained in families (one family per login): presenting a
-- spent token is taken as theft and revokes the whole family. Only a SHA-256 of the token is kept.
CREATE TABLE refresh_tokens (
  tenant_id   text NOT NULL,
  id          uuid NOT NULL,
  family_id   uuid NOT NULL,
  user_id     uuid NOT NULL,
  token_hash  text NOT NULL UNIQUE,
  expires_at  timestamptz NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  -- Set when the token was exchanged for its successor.
  spent_at    timestamptz,
  revoked_at  timestamptz,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (tenant_id, family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (tenant_id, user_id) WHERE revoked_at IS NULL;
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

-- Append-only record of who did what to whom, written in the transaction of the change itself.
CREATE TABLE audit_log (
  tenant_id   text NOT NULL REFERENCES tenants (id),
  id          uuid NOT NULL,
  actor       text NOT NULL,
  action      text NOT NULL,
  target      text,
  ip          text,
  details     jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_log_action ON audit_log (tenant_id, action, id);

-- API keys are listed per tenant in id order (UUIDv7: creation order).
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);
