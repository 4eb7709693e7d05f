-- Every event row is written twice: inserted, then rewritten by the relay when it is sequenced
-- (the update changes an indexed column, so it is never HOT and every index takes a new entry).
-- Three of the six indexes did nothing for those two writes but cost an entry on each:
-- - `outbox_events_time` served only the retention purge, which now walks the published prefix
--   of the log by sequence (the order events become deletable in) and stops at the first event
--   still inside the retention;
-- - the unique index on `id` served the bookkeeping of a failed publish, which now names the event
--   by its sequence. Event ids are UUIDv7 made by the service, never taken from a request;
-- - the unique index on `sequence` also held an entry for every unsequenced row (a NULL). It
--   becomes partial: the same uniqueness for every sequence handed out, and one entry per event.
-- An event now costs five index entries instead of ten: the insert adds the position and the
-- unsequenced entry; sequencing adds the position, the sequence and the tenant's log entry.
DROP INDEX outbox_events_time;
ALTER TABLE outbox_events DROP CONSTRAINT outbox_events_id_key;
ALTER TABLE outbox_events DROP CONSTRAINT outbox_events_sequence_key;
CREATE UNIQUE INDEX outbox_events_sequence ON outbox_events (sequence) WHERE sequence IS NOT NULL;
