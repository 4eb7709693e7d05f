-- A transaction that has issued NOTIFY takes a database-wide lock when it commits and holds it until
-- the commit is durable (PostgreSQL serializes notifiers so the notification queue stays in commit
-- order). With a NOTIFY from every outbox insert, every write of omnistock committed one at a time,
-- each waiting for the previous one's WAL flush: no group commit for any write. The relay of the
-- committing process is woken in-process after the commit; a relay that finds the sequencer lock
-- taken retries when the holder's sequencing is announced (its one NOTIFY per run) or shortly after.
DROP TRIGGER outbox_events_inserted ON outbox_events;
DROP FUNCTION notify_outbox_inserted();
