import { PGlite, type Results, types } from '@electric-sql/pglite';
import {
  assertChannelName,
  CommitWrites,
  type Database,
  type DedicatedSession,
  type PlannerSettings,
  type QueryResult,
  runAfterCommit,
  type ScopedDatabase,
  type Statement,
  type SystemPurpose,
  scopedViews,
  startedAtOf,
  TRANSACTION_CLOCK_QUERY,
  type Transaction,
} from './database.js';

export type PgliteSource =
  | { kind: 'directory'; dataDir: string }
  | { kind: 'memory' }
  /** A data directory tarball from `dumpDataDir`, loaded into memory (tests start from a migrated image). */
  | { kind: 'image'; image: Blob };

/** How old the planner's statistics may grow before a reclaim of dead rows refreshes them. */
const STATISTICS_MAX_AGE_MS = 60 * 60 * 1000;

/** PGlite reports affectedRows 0 for a SELECT; pg's rowCount counts the rows returned. */
function toQueryResult<Row>(result: Results<Row>): QueryResult<Row> {
  return { rows: result.rows, rowCount: Math.max(result.affectedRows ?? 0, result.rows.length) };
}

/**
 * PGlite: PostgreSQL compiled to WASM, in this process. It has ONE connection, so statements and
 * transactions run one at a time; PGlite itself queues callers. Concurrency is therefore proven on
 * real PostgreSQL, while PGlite proves the SQL and the semantics.
 */
export class PgliteDatabase implements Database {
  readonly kind = 'pglite' as const;
  readonly #db: PGlite;
  readonly #views = scopedViews((scope, work) => this.#transaction(scope.transaction, work));
  /** When reclaimDeadRows last refreshed the statistics (never, at first). */
  #analyzedAt = Number.NEGATIVE_INFINITY;

  private constructor(db: PGlite) {
    this.#db = db;
  }

  static async open(source: PgliteSource): Promise<PgliteDatabase> {
    // int8 as number, matching the pg adapter's parser.
    const parsers = { [types.INT8]: (text: string) => Number(text) };
    const db =
      source.kind === 'directory'
        ? await PGlite.create(source.dataDir, { parsers })
        : source.kind === 'image'
          ? await PGlite.create({ loadDataDir: source.image, parsers })
          : await PGlite.create('memory://', { parsers });
    return new PgliteDatabase(db);
  }

  forTenant(tenantId: string): ScopedDatabase {
    return this.#views.forTenant(tenantId);
  }

  system(purpose: SystemPurpose): ScopedDatabase {
    return this.#views.system(purpose);
  }

  schemaOwner(): ScopedDatabase {
    return this.#views.schemaOwner();
  }

  async #transaction<T>(preamble: string, work: (tx: Transaction) => Promise<T>): Promise<T> {
    const committed: (() => void)[] = [];
    const value = await this.#db.transaction(async (transaction) => {
      const startedAt = startedAtOf(await transaction.exec(`${preamble}; ${TRANSACTION_CLOCK_QUERY}`));
      // Writes run last (Transaction.commitWith): one connection in process, no round trip to save.
      const atCommit = new CommitWrites();
      const tx: Transaction = {
        startedAt: async () => startedAt,
        async query<Row>(sql: string, params: readonly unknown[] = []) {
          atCommit.assertNoneYet();
          return toQueryResult(await transaction.query<Row>(sql, params as unknown[]));
        },
        async executeScript(sql: string) {
          atCommit.assertNoneYet();
          await transaction.exec(sql);
        },
        afterCommit(callback: () => void) {
          committed.push(callback);
        },
        commitWith(statement: Statement) {
          atCommit.add(statement);
        },
      };
      const value = await work(tx);
      for (const statement of atCommit.statements) await transaction.query(statement.sql, statement.params);
      return value;
    });
    runAfterCommit(committed);
    return value;
  }

  /**
   * One connection serves everything here: the session is the system view, and ends with the
   * database. Planner settings are not set: they would hold for every statement of the process.
   */
  async session(purpose: SystemPurpose, _planner?: PlannerSettings): Promise<DedicatedSession> {
    const view = this.system(purpose);
    const db = this.#db;
    return {
      query: (sql, params) => view.query(sql, params),
      get ended() {
        return db.closed;
      },
      end: async () => {},
    };
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    assertChannelName(channel);
    const unlisten = await this.#db.listen(channel, onNotify);
    return async () => {
      if (!this.#db.closed) await unlisten();
    };
  }

  async ping(): Promise<void> {
    await this.#db.query('SELECT 1');
  }

  /**
   * VACUUM of the whole database: pages that did not change cost nothing (the visibility map lets
   * it skip them). It holds the one connection while it runs; with 50,000 events in the outbox, a
   * VACUUM after 500 more took 17 ms. Once an hour it also refreshes the planner's statistics,
   * which autovacuum would otherwise keep: ANALYZE samples every table (300 ms there), and
   * statistics change slowly.
   */
  async reclaimDeadRows(): Promise<void> {
    const analyze = Date.now() - this.#analyzedAt >= STATISTICS_MAX_AGE_MS;
    await this.#db.exec(analyze ? 'VACUUM (ANALYZE)' : 'VACUUM');
    if (analyze) this.#analyzedAt = Date.now();
  }

  /** A tarball of the data directory; tests use it as a migrated template. */
  async dumpImage(): Promise<Blob> {
    return this.#db.dumpDataDir('none');
  }

  async close(): Promise<void> {
    if (!this.#db.closed) await this.#db.close();
  }
}
