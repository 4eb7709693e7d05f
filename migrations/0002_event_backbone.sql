-- The event log: the outbox, sequenced by the relay in commit order. `sequence` is assigned once,
-- gap-free and increasing, before publishing; it is the SSE event id and the cursor of GET /events.
ALTER TABLE outbox_events ADD COLUMN sequence bigint UNIQUE;
CREATE INDEX outbox_events_unsequenced ON outbox_events (position) WHERE sequence IS NULL;
CREATE INDEX outbox_events_unpublished ON outbox_events (sequence)
  WHERE sequence IS NOT NULL AND synced_at IS NULL AND abandoned_at IS NULL;
CREATE INDEX outbox_events_tenant_log ON outbox_events (tenant_id, sequence) WHERE sequence IS NOT NULL;
CREATE INDEX outbox_events_time ON outbox_events (created_at);

-- The last sequence handed out; one row, updated under its row lock by whichever relay sequences.
CREATE TABLE event_log_head (
  singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  last_sequence  bigint NOT NULL
);
INSERT INTO event_log_head (last_sequence) VALUES (0);

-- Wakes the relay on commit: NOTIFY is delivered when the inserting transaction commits, never before.
CREATE FUNCTION notify_outbox_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('omnistock_outbox', '');
  RETURN NULL;
END $$;
CREATE TRIGGER outbox_events_inserted AFTER INSERT ON outbox_events
  FOR EACH STATEMENT EXECUTE FUNCTION notify_outbox_inserted();

-- Idempotent consumers: an event id a consumer has applied is recorded in the same transaction.
CREATE TABLE inbox_events (
  consumer      text NOT NULL,
  event_id      uuid NOT NULL,
  processed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);
CREATE INDEX inbox_events_processed ON inbox_events (processed_at);
