-- The publisher's progress is one number, not a mark on every event. Publishing is in sequence order
-- and all or nothing per batch, so what the broker acknowledged is always a prefix of the sequence:
-- a watermark says the same as `synced_at` on each row. Marking rows was a third write of every
-- event, never HOT (`synced_at` is in index predicates), with an index insertion per index; the
-- watermark is one row updated once per batch. `attempts` and `last_error` still record failures.
CREATE TABLE event_log_published (
  singleton         boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  through_sequence  bigint NOT NULL
);
INSERT INTO event_log_published (through_sequence)
  SELECT coalesce(
    (SELECT min(sequence) - 1 FROM outbox_events WHERE sequence IS NOT NULL AND synced_at IS NULL),
    (SELECT last_sequence FROM event_log_head));

DROP INDEX outbox_events_unpublished;
DROP INDEX outbox_events_unsynced;
ALTER TABLE outbox_events DROP COLUMN synced_at;
