import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/platform/db/database.js';
import { sequencePending } from '../../src/platform/events/outbox-store.js';
import { commitStockEvents } from '../support/outbox-events.js';
import { createTestDatabase, postgresAvailable } from '../support/test-app.js';

/**
 * The sequencer is one autocommit statement that takes the sequencing lock itself: the lock must
 * still make it exclusive between processes, and concurrent calls must still give every committed
 * event exactly one sequence, without gaps.
 */
const LOCK_KEY = 424_242_424;
const TENANT = 'sequencer-test';

describe.skipIf(!postgresAvailable())('outbox sequencer [postgres]', () => {
  let database: Database;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    ({ database, drop } = await createTestDatabase('postgres'));
  });
  afterAll(async () => drop());

  it('answers undefined while another holds the lock, and sequences once it is free', async () => {
    await commitStockEvents(database, 3, TENANT, 'held');
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const holding = database.schemaOwner().transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
      await released;
    });
    // Let the holder take the lock first.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await sequencePending(database.system('outbox-relay'), 100, LOCK_KEY)).toBeUndefined();
    release();
    await holding;
    const sequenced = await sequencePending(database.system('outbox-relay'), 100, LOCK_KEY);
    expect(sequenced?.map((event) => event.envelope.subject)).toEqual([
      'stock/held-0',
      'stock/held-1',
      'stock/held-2',
    ]);
  });

  it('gives every event one sequence, gap-free, when sequencers race commits', async () => {
    const commits = Array.from({ length: 20 }, (_, index) =>
      commitStockEvents(database, 5, TENANT, `race-${index}`),
    );
    const sequencers = Array.from({ length: 20 }, () =>
      sequencePending(database.system('outbox-relay'), 7, LOCK_KEY),
    );
    await Promise.all([...commits, ...sequencers]);
    // Whatever the race left unsequenced, a last pass takes.
    while (((await sequencePending(database.system('outbox-relay'), 100, LOCK_KEY)) ?? [1]).length > 0);
    const rows = await database
      .schemaOwner()
      .query<{ sequence: number | null }>('SELECT sequence FROM outbox_events ORDER BY sequence');
    const sequences = rows.rows.map((row) => row.sequence);
    expect(sequences).not.toContain(null);
    expect(sequences).toEqual(Array.from({ length: sequences.length }, (_, index) => index + 1));
    expect(sequences.length).toBeGreaterThanOrEqual(103);
  });
});
