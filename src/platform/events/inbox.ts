import type { Queryable } from '../db/database.js';

/**
 * Records that `consumer` applied `eventId`, inside the consumer's own transaction. Returns false
 * when it already had: at-least-once delivery then applies each event exactly once.
 */
export async function recordInInbox(tx: Queryable, consumer: string, eventId: string): Promise<boolean> {
  const result = await tx.query(
    'INSERT INTO inbox_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1',
    [consumer, eventId],
  );
  return result.rowCount === 1;
}

/** Inbox rows older than the broker's longest redelivery window are no longer needed. */
export async function purgeInbox(db: Queryable, olderThanSeconds: number): Promise<number> {
  const result = await db.query(
    'DELETE FROM inbox_events WHERE processed_at < now() - make_interval(secs => $1)',
    [olderThanSeconds],
  );
  return result.rowCount;
}
