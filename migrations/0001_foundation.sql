-- omnistock foundation: tenants, machine credentials, catalog, stock with its ledger,
-- reservations, the transactional outbox and idempotency records.
-- Every tenant-owned table carries tenant_id in its primary key and in its indexes.

CREATE TABLE tenants (
  id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{1,49}$'),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  tenant_id     text NOT NULL REFERENCES tenants (id),
  id            uuid NOT NULL,
  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  -- SHA-256 of the key: keys are 256-bit random, so a fast hash is safe; the key itself is never stored.
  key_hash      text NOT NULL UNIQUE,
  key_prefix    text NOT NULL,
  role          text NOT NULL CHECK (role IN ('admin', 'manager', 'vendor', 'customer')),
  store_ids     text[],
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE stores (
  tenant_id   text NOT NULL REFERENCES tenants (id),
  id          text NOT NULL CHECK (id ~ '^[A-Za-z0-9-]{3,50}$'),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  kind        text NOT NULL CHECK (kind IN ('store', 'warehouse', 'online')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE products (
  tenant_id    text NOT NULL REFERENCES tenants (id),
  id           uuid NOT NULL,
  sku          text NOT NULL,
  name         text NOT NULL,
  description  text NOT NULL DEFAULT '',
  category     text,
  price_minor  bigint NOT NULL CHECK (price_minor >= 0),
  currency     char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  version      integer NOT NULL DEFAULT 1,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  deleted_at   timestamptz,
  PRIMARY KEY (tenant_id, id)
);
-- A deleted product frees its SKU; the row stays for the ledger and the history.
CREATE UNIQUE INDEX products_sku_unique ON products (tenant_id, sku) WHERE deleted_at IS NULL;
CREATE INDEX products_category ON products (tenant_id, category, id) WHERE deleted_at IS NULL;

CREATE TABLE stock_levels (
  tenant_id            text NOT NULL,
  product_id           uuid NOT NULL,
  store_id             text NOT NULL,
  quantity             integer NOT NULL CHECK (quantity >= 0),
  reserved             integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
  low_stock_threshold  integer NOT NULL DEFAULT 0 CHECK (low_stock_threshold >= 0),
  -- False once the product is deleted: the conditional reservation UPDATE filters on it, so a
  -- reservation racing a delete re-checks this row after the delete commits and finds nothing.
  sellable             boolean NOT NULL DEFAULT true,
  version              integer NOT NULL DEFAULT 1,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, product_id, store_id),
  FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id),
  FOREIGN KEY (tenant_id, store_id) REFERENCES stores (tenant_id, id),
  -- The last wall behind the conditional updates: never more reserved than on hand.
  CONSTRAINT stock_levels_reserved_within_quantity CHECK (reserved <= quantity)
);
CREATE INDEX stock_levels_store ON stock_levels (tenant_id, store_id, product_id);

-- The ledger: every change of on-hand is one row; on-hand equals the sum of quantity_change.
CREATE TABLE stock_movements (
  tenant_id        text NOT NULL,
  id               uuid NOT NULL,
  product_id       uuid NOT NULL,
  store_id         text NOT NULL,
  quantity_change  integer NOT NULL,
  quantity_after   integer NOT NULL CHECK (quantity_after >= 0),
  reason           text NOT NULL,
  actor            text NOT NULL,
  user_id          text,
  reference_id     text,
  correlation_id   text NOT NULL,
  note             text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, product_id, store_id) REFERENCES stock_levels (tenant_id, product_id, store_id)
);
CREATE INDEX stock_movements_level ON stock_movements (tenant_id, product_id, store_id, id);

CREATE TABLE reservations (
  tenant_id     text NOT NULL,
  id            uuid NOT NULL,
  product_id    uuid NOT NULL,
  store_id      text NOT NULL,
  customer_id   text NOT NULL,
  quantity      integer NOT NULL CHECK (quantity > 0),
  status        text NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'CANCELLED', 'EXPIRED')),
  batch_id      uuid,
  expires_at    timestamptz NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, product_id, store_id) REFERENCES stock_levels (tenant_id, product_id, store_id)
);
-- Across tenants on purpose: the expiry sweeper serves every tenant.
CREATE INDEX reservations_pending_expiry ON reservations (expires_at) WHERE status = 'PENDING';
CREATE INDEX reservations_level ON reservations (tenant_id, product_id, store_id, id);
CREATE INDEX reservations_store_pending ON reservations (tenant_id, store_id, id) WHERE status = 'PENDING';

-- The transactional outbox: written in the same transaction as the change it announces.
-- synced_at stays NULL until a broker acknowledged it; the relay records its attempts.
CREATE TABLE outbox_events (
  position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id              uuid NOT NULL UNIQUE,
  tenant_id       text NOT NULL,
  aggregate_type  text NOT NULL,
  aggregate_id    text NOT NULL,
  event_type      text NOT NULL,
  envelope        jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  synced_at       timestamptz,
  attempts        integer NOT NULL DEFAULT 0,
  last_error      text,
  locked_until    timestamptz,
  abandoned_at    timestamptz
);
CREATE INDEX outbox_events_pending ON outbox_events (position) WHERE synced_at IS NULL AND abandoned_at IS NULL;
CREATE INDEX outbox_events_tenant ON outbox_events (tenant_id, position);

CREATE TABLE idempotency_keys (
  tenant_id            text NOT NULL,
  key                  text NOT NULL,
  request_fingerprint  text NOT NULL,
  state                text NOT NULL CHECK (state IN ('IN_FLIGHT', 'COMPLETED')),
  response_status      integer,
  response_headers     jsonb,
  response_body        text,
  -- An IN_FLIGHT claim whose holder died is taken over after this moment.
  locked_until         timestamptz NOT NULL,
  expires_at           timestamptz NOT NULL,
  created_at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
