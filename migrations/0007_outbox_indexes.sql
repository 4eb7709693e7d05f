-- Every event row is written three times (inserted, sequenced, marked published), and neither of
-- the later writes can be HOT (they change indexed columns), so each index costs three insertions
-- per event. Two indexes earned none of that: `outbox_events_pending` (its predicate also names
-- abandoned_at, so the backlog count, which filters on synced_at alone, could not use it) and
-- `outbox_events_tenant` (the event log pages by sequence through outbox_events_tenant_log). One
-- index shaped like the backlog count replaces both; it holds only rows not yet published.
DROP INDEX outbox_events_pending;
DROP INDEX outbox_events_tenant;
CREATE INDEX outbox_events_unsynced ON outbox_events (tenant_id) WHERE synced_at IS NULL;
