import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/platform/db/database.js';
import {
  INDEX_WALKS_ONLY,
  SEQUENCE_PENDING_SQL,
  sequencePending,
} from '../../src/platform/events/outbox-store.js';
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

  it("walks the unsequenced index on the relay's session, however many rows were sequenced before", async () => {
    // Two thousand sequenced rows, never vacuumed: each left a dead entry in the partial index.
    for (let round = 0; round < 20; round += 1)
      await commitStockEvents(database, 100, TENANT, `old-${round}`);
    while (((await sequencePending(database.system('outbox-relay'), 500, LOCK_KEY)) ?? [1]).length > 0);
    await commitStockEvents(database, 3, TENANT, 'new');
    const session = await database.session('outbox-relay', INDEX_WALKS_ONLY);
    try {
      const explained = await session.query<{ 'QUERY PLAN': unknown }>(
        `EXPLAIN (FORMAT JSON) ${SEQUENCE_PENDING_SQL}`,
        [100, LOCK_KEY],
      );
      const scans = scansOf(explained.rows[0]?.['QUERY PLAN']);
      expect(scans).toContainEqual({ type: 'Index Scan', index: 'outbox_events_unsequenced' });
      expect(scans.filter((scan) => scan.type === 'Seq Scan' && scan.relation === 'outbox_events')).toEqual(
        [],
      );
      expect(scans.filter((scan) => scan.type.startsWith('Bitmap'))).toEqual([]);
      const jit = await session.query<{ jit: string }>("SELECT current_setting('jit') AS jit");
      expect(jit.rows[0]?.jit).toBe('off');
      // And it still sequences, just the new rows.
      const sequenced = await sequencePending(session, 100, LOCK_KEY);
      expect(sequenced?.map((event) => event.envelope.subject)).toEqual([
        'stock/new-0',
        'stock/new-1',
        'stock/new-2',
      ]);
    } finally {
      await session.end();
    }
  });
});

describe('outbox sequencer [pglite]', () => {
  let database: Database;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    ({ database, drop } = await createTestDatabase('pglite'));
  });
  afterAll(async () => drop());

  it('visits only what is unsequenced once dead rows are reclaimed (PGlite runs no autovacuum)', async () => {
    const relay = database.system('outbox-relay');
    for (let round = 0; round < 20; round += 1) {
      await commitStockEvents(database, 100, TENANT, `old-${round}`);
      while (((await sequencePending(relay, 500, null)) ?? [1]).length > 0);
    }
    const entriesVisited = async (prefix: string) => {
      await commitStockEvents(database, 3, TENANT, prefix);
      const explained = await relay.query<{ 'QUERY PLAN': unknown }>(
        `EXPLAIN (ANALYZE, FORMAT JSON) ${SEQUENCE_PENDING_SQL}`,
        [100, null],
      );
      const scan = scansOf(explained.rows[0]?.['QUERY PLAN']).find(
        (candidate) => candidate.index === 'outbox_events_unsequenced',
      );
      return scan?.rows;
    };
    // Every event sequenced so far left an entry behind.
    expect(await entriesVisited('before')).toBeGreaterThanOrEqual(2_000);
    await database.reclaimDeadRows();
    expect(await entriesVisited('after')).toBe(3);
    const sequences = await database
      .schemaOwner()
      .query<{ unsequenced: number }>(
        'SELECT count(*)::int AS unsequenced FROM outbox_events WHERE sequence IS NULL',
      );
    expect(sequences.rows[0]?.unsequenced).toBe(0);
  });

  it('reclaims after a transaction in progress, never inside its block (VACUUM refuses to run there)', async () => {
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const finished: string[] = [];
    const holding = database.schemaOwner().transaction(async (tx) => {
      await tx.query('SELECT 1');
      await released;
      await tx.query('SELECT 2');
      finished.push('transaction');
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const reclaiming = database.reclaimDeadRows().then(() => finished.push('reclaim'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(finished).toEqual([]);
    release();
    await holding;
    await reclaiming;
    expect(finished).toEqual(['transaction', 'reclaim']);
  });
});

interface Scan {
  type: string;
  index?: string;
  relation?: string;
  /** With ANALYZE: the rows (for a bitmap index scan, the index entries) it produced. */
  rows?: number;
}

/** Every scan node of an EXPLAIN (FORMAT JSON) plan. */
function scansOf(explained: unknown): Scan[] {
  const scans: Scan[] = [];
  const visit = (node: Record<string, unknown>) => {
    const type = String(node['Node Type']);
    if (type.endsWith('Scan') && !type.startsWith('CTE') && !type.startsWith('Subquery'))
      scans.push({
        type,
        ...(node['Index Name'] === undefined ? {} : { index: String(node['Index Name']) }),
        ...(node['Relation Name'] === undefined || node['Index Name'] !== undefined
          ? {}
          : { relation: String(node['Relation Name']) }),
        ...(node['Actual Rows'] === undefined ? {} : { rows: Number(node['Actual Rows']) }),
      });
    for (const child of (node['Plans'] as Record<string, unknown>[] | undefined) ?? []) visit(child);
  };
  const plans = explained as { Plan: Record<string, unknown> }[];
  for (const plan of plans) visit(plan.Plan);
  return scans;
}
