import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/platform/db/database.js';
import { createTestDatabase, postgresAvailable } from '../support/test-app.js';

/**
 * A dedicated session (the relay's) is used by several callers that do not wait for each other: its
 * statements run one at a time, in the order asked, and its connection is never handed a query
 * while it runs another (pg deprecates that, and pg@9 will refuse it).
 */
describe.skipIf(!postgresAvailable())('dedicated session on PostgreSQL', () => {
  let database: Database;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    ({ database, drop } = await createTestDatabase('postgres'));
  });
  // drop() closes the database too.
  afterAll(() => drop());

  it('runs concurrent statements one after another, in the order asked', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    const session = await database.session('outbox-relay');
    try {
      const finished: number[] = [];
      const results = await Promise.all(
        [30, 0, 10].map(async (sleepMs, index) => {
          const result = await session.query<{ n: number }>(
            'SELECT $1::int AS n FROM pg_sleep($2::float8 / 1000)',
            [index, sleepMs],
          );
          finished.push(index);
          return result.rows[0]?.n;
        }),
      );
      expect(results).toEqual([0, 1, 2]);
      expect(finished).toEqual([0, 1, 2]);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((message) => message.includes('already executing a query'))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await session.end();
    }
  });

  it('prepares its statements once and then only runs them, with their own parameters each time', async () => {
    const session = await database.session('outbox-relay');
    try {
      const sql = 'SELECT $1::int * 2 AS doubled';
      const answers = [];
      for (const value of [1, 2, 3])
        answers.push((await session.query<{ doubled: number }>(sql, [value])).rows[0]?.doubled);
      expect(answers).toEqual([2, 4, 6]);
      const prepared = await session.query<{ statement: string }>(
        'SELECT statement FROM pg_prepared_statements WHERE NOT from_sql',
      );
      expect(prepared.rows.map((row) => row.statement)).toContain(sql);
    } finally {
      await session.end();
    }
  });
});
