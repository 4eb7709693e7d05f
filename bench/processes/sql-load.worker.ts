import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { Level } from '../support/load-protocol.js';
import type { SqlLoadJob, SqlLoadRun, SqlWorkerMessage } from '../support/sql-load-protocol.js';
import { round, summarise } from '../support/stats.js';

/**
 * The database alone, from a process of its own (forked by bench/support/sql-load.ts): `clients`
 * loops, each on its own connection, run one reservation transaction after another for the given
 * time. On PGlite the loops share its one connection, which is what the service gets there too.
 */

/** One reservation attempt: true if a unit was reserved, false if there was none left. */
type Attempt = (level: Level) => Promise<boolean>;

const CONDITIONAL_UPDATE = `UPDATE stock_levels SET reserved = reserved + 1
  WHERE tenant_id = $1 AND product_id = $2 AND store_id = $3 AND quantity - reserved >= 1`;
const LOCK_LEVEL = `SELECT quantity, reserved FROM stock_levels
  WHERE tenant_id = $1 AND product_id = $2 AND store_id = $3 FOR UPDATE`;
const RESERVE_LOCKED = `UPDATE stock_levels SET reserved = reserved + 1, version = version + 1, updated_at = now()
  WHERE tenant_id = $1 AND product_id = $2 AND store_id = $3`;
const INSERT_RESERVATION = `INSERT INTO reservations
  (tenant_id, id, product_id, store_id, customer_id, quantity, status, expires_at)
  VALUES ($1, gen_random_uuid(), $2, $3, 'bench-baseline', 1, 'PENDING', now() + interval '1 hour')`;

interface Queryable {
  query(
    sql: string,
    params: unknown[],
  ): Promise<{ rows: unknown[]; affectedRows?: number; rowCount?: number | null }>;
}

function attemptOn(
  job: SqlLoadJob,
  connection: Queryable,
  transaction: <T>(work: (tx: Queryable) => Promise<T>) => Promise<T>,
): Attempt {
  if (job.mode === 'bare-update') {
    return async ([productId, storeId]) => {
      const result = await connection.query(CONDITIONAL_UPDATE, [job.tenant_id, productId, storeId]);
      return (result.rowCount ?? result.affectedRows ?? 0) === 1;
    };
  }
  return ([productId, storeId]) =>
    transaction(async (tx) => {
      const key = [job.tenant_id, productId, storeId];
      const level = (await tx.query(LOCK_LEVEL, key)).rows[0] as
        | { quantity: number; reserved: number }
        | undefined;
      if (level === undefined || level.quantity - level.reserved < 1) return false;
      await tx.query(RESERVE_LOCKED, key);
      await tx.query(INSERT_RESERVATION, key);
      return true;
    });
}

async function connect(job: SqlLoadJob): Promise<{ attempts: Attempt[]; close(): Promise<void> }> {
  if (job.database.kind === 'pglite') {
    const db = await PGlite.create(job.database.pgliteDir);
    if (job.prepare !== undefined) await db.query(job.prepare.sql, job.prepare.params);
    const transaction = <T>(work: (tx: Queryable) => Promise<T>) => db.transaction((tx) => work(tx));
    const attempt = attemptOn(job, db, transaction);
    return { attempts: Array.from({ length: job.clients }, () => attempt), close: () => db.close() };
  }
  const clients = await Promise.all(
    Array.from({ length: job.clients }, async () => {
      const client = new pg.Client({ connectionString: job.database.url });
      await client.connect();
      return client;
    }),
  );
  if (job.prepare !== undefined) await clients[0]?.query(job.prepare.sql, job.prepare.params);
  const attempts = clients.map((client) =>
    attemptOn(job, client, async (work) => {
      await client.query('BEGIN');
      try {
        const value = await work(client);
        await client.query('COMMIT');
        return value;
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    }),
  );
  return { attempts, close: async () => void (await Promise.all(clients.map((client) => client.end()))) };
}

async function drive(job: SqlLoadJob, attempts: Attempt[], seconds: number): Promise<SqlLoadRun> {
  const latencies: number[] = [];
  let refused = 0;
  let errors = 0;
  const startedAt = performance.now();
  const endAt = startedAt + seconds * 1000;
  await Promise.all(
    attempts.map(async (attempt) => {
      while (performance.now() < endAt) {
        const level = job.levels[Math.floor(Math.random() * job.levels.length)] as Level;
        const began = performance.now();
        try {
          if (await attempt(level)) latencies.push(performance.now() - began);
          else refused += 1;
        } catch {
          errors += 1;
        }
      }
    }),
  );
  const elapsed = (performance.now() - startedAt) / 1000;
  return {
    mode: job.mode,
    transactions: latencies.length,
    refused,
    errors,
    duration_seconds: round(elapsed),
    transactions_per_second: Math.round(latencies.length / elapsed),
    latency: summarise(latencies),
  };
}

/** Resolves once the message is handed to the IPC channel, so that exiting next loses nothing. */
function send(message: SqlWorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) resolve();
    else process.send(message, undefined, undefined, () => resolve());
  });
}

process.once('message', (job: SqlLoadJob) => {
  (async () => {
    const { attempts, close } = await connect(job);
    try {
      if (job.warm_up_seconds > 0) await drive(job, attempts, job.warm_up_seconds);
      await send({ type: 'done', run: await drive(job, attempts, job.duration_seconds) });
    } finally {
      await close();
    }
  })().then(
    () => process.exit(0),
    async (error: unknown) => {
      await send({
        type: 'failed',
        message: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
      process.exit(1);
    },
  );
});
