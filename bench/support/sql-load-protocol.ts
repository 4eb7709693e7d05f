import type { DatabaseKind } from './database.js';
import type { Level } from './load-protocol.js';
import type { LatencySummary } from './stats.js';

/**
 * - `bare-update`: the write ceiling — the conditional UPDATE alone, one statement per commit, no
 *   HTTP and no application code.
 * - `pessimistic`: the seed design's reservation — BEGIN; SELECT … FOR UPDATE; check in code;
 *   UPDATE; INSERT the reservation; COMMIT — the baseline the API's reservations are compared with.
 */
export type SqlLoadMode = 'bare-update' | 'pessimistic';

export interface SqlLoadJob {
  mode: SqlLoadMode;
  database: { kind: DatabaseKind; url: string | undefined; pgliteDir: string };
  tenant_id: string;
  /** Each transaction takes a random one of these (one level: every client on the same row). */
  levels: readonly Level[];
  /** Run once before the load, e.g. refilling the row: opening PGlite twice would cost seconds. */
  prepare?: { sql: string; params: unknown[] };
  clients: number;
  warm_up_seconds: number;
  duration_seconds: number;
}

export interface SqlLoadRun {
  mode: SqlLoadMode;
  /** Committed transactions that reserved a unit. */
  transactions: number;
  /** Transactions that found no stock left (the UPDATE matched no row, or the check in code said no). */
  refused: number;
  errors: number;
  duration_seconds: number;
  transactions_per_second: number;
  latency: LatencySummary;
}

export type SqlWorkerMessage = { type: 'done'; run: SqlLoadRun } | { type: 'failed'; message: string };
