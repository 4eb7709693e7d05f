-- Outbound webhooks: the endpoints a tenant registers, their signing secrets, and one delivery row
-- per (endpoint, event) that the dispatcher works off. Every key and index holds tenant_id.

CREATE TABLE webhook_endpoints (
  tenant_id             text NOT NULL REFERENCES tenants (id),
  id                    uuid NOT NULL,
  url                   text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
  description           text CHECK (length(description) <= 500),
  -- Exact CloudEvents types, or '*' for every type.
  event_types           text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 50),
  -- NULL: every store. Otherwise only events about one of these stores; events about no store
  -- (products) concern every store and always pass.
  store_ids             text[] CHECK (cardinality(store_ids) BETWEEN 1 AND 100),
  enabled               boolean NOT NULL DEFAULT true,
  version               integer NOT NULL DEFAULT 1,
  -- The endpoint's circuit breaker, in the database so that every instance honours it.
  consecutive_failures  integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
  circuit_open_until    timestamptz,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE webhook_secrets (
  tenant_id    text NOT NULL,
  endpoint_id  uuid NOT NULL,
  id           uuid NOT NULL,
  -- The key itself: an HMAC needs it, so unlike API keys it cannot be stored as a hash.
  secret       text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  -- NULL for the current secret; a rotated-out secret keeps signing beside it until then.
  expires_at   timestamptz,
  PRIMARY KEY (tenant_id, endpoint_id, id),
  FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX webhook_secrets_current ON webhook_secrets (tenant_id, endpoint_id) WHERE expires_at IS NULL;

CREATE TABLE webhook_deliveries (
  tenant_id         text NOT NULL,
  id                uuid NOT NULL,
  endpoint_id       uuid NOT NULL,
  event_id          uuid NOT NULL,
  event_type        text NOT NULL,
  event_sequence    bigint NOT NULL,
  -- A copy of the CloudEvent: deliveries outlive whatever retention the event log gets.
  payload           jsonb NOT NULL,
  status            text NOT NULL CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED', 'DEAD')),
  -- Attempts since the delivery was (re)queued: they walk the retry schedule.
  attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  -- Failures that count against holding back the endpoint's later deliveries (ordering); reset
  -- when the endpoint recovers from an outage, which explains them.
  order_strikes     integer NOT NULL DEFAULT 0 CHECK (order_strikes >= 0),
  next_attempt_at   timestamptz,
  -- The attempt in flight: its completion only counts if the claim is still this one.
  claim_id          uuid,
  locked_until      timestamptz,
  last_attempt_at   timestamptz,
  last_status_code  integer,
  last_error        text,
  delivered_at      timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  -- One delivery per event and endpoint: redelivery and replay re-queue it rather than add another.
  CONSTRAINT webhook_deliveries_event_unique UNIQUE (tenant_id, endpoint_id, event_id),
  FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE,
  CONSTRAINT webhook_deliveries_owed_have_next_attempt
    CHECK ((status IN ('PENDING', 'FAILED')) = (next_attempt_at IS NOT NULL))
);
-- The worker serves every tenant: due time first, tenant beside it.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, tenant_id)
  WHERE status IN ('PENDING', 'FAILED');
-- What an endpoint still owes, in event order: the head-of-line check of the claim.
CREATE INDEX webhook_deliveries_owed ON webhook_deliveries (tenant_id, endpoint_id, event_sequence)
  WHERE status IN ('PENDING', 'FAILED');
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (tenant_id, endpoint_id, id);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (updated_at, tenant_id)
  WHERE status IN ('SUCCEEDED', 'DEAD');
