import pg from 'pg';
import type { Database, QueryResult, Transaction } from './database.js';

const INT8_OID = 20;
const INT8_SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

// int8 arrives as text; every int8 we keep (prices, counts, positions) is far below 2^53,
// and the parser refuses to lose precision silently if that ever stops being true.
pg.types.setTypeParser(INT8_OID, (text: string) => {
  const value = BigInt(text);
  if (value > INT8_SAFE_MAX || value < -INT8_SAFE_MAX) throw new RangeError(`int8 ${text} exceeds 2^53`);
  return Number(value);
});

export interface PgDatabaseOptions {
  connectionString: string;
  poolSizeMax: number;
  statementTimeoutMs: number;
  connectionTimeoutMs: number;
  applicationName: string;
}

/** PostgreSQL through pg.Pool: real concurrency, one pooled connection per transaction. */
export class PgDatabase implements Database {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;

  constructor(options: PgDatabaseOptions) {
    this.#pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolSizeMax,
      connectionTimeoutMillis: options.connectionTimeoutMs,
      statement_timeout: options.statementTimeoutMs,
      application_name: options.applicationName,
    });
    // An idle client whose server connection drops emits here; without a listener the process would crash.
    this.#pool.on('error', () => {});
  }

  async query<Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> {
    const result = await this.#pool.query(sql, params as unknown[]);
    return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
  }

  async transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    let connectionBroken = false;
    try {
      await client.query('BEGIN');
      const tx: Transaction = {
        async query<Row>(sql: string, params: readonly unknown[] = []) {
          const result = await client.query(sql, params as unknown[]);
          return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
        },
        async executeScript(sql: string) {
          await client.query(sql);
        },
      };
      const value = await work(tx);
      await client.query('COMMIT');
      return value;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch {
        connectionBroken = true;
      }
      throw error;
    } finally {
      client.release(connectionBroken);
    }
  }

  async ping(): Promise<void> {
    await this.#pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
