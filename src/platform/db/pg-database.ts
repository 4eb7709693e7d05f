import pg from 'pg';
import { DATABASE_POLICY } from '../dependency-policies.js';
import {
  assertChannelName,
  CommitWrites,
  type Database,
  type DedicatedSession,
  isConnectivityError,
  type PlannerSettings,
  plannerStatement,
  type QueryResult,
  runAfterCommit,
  type ScopedDatabase,
  type ScopeStatements,
  type Statement,
  type SystemPurpose,
  scopedViews,
  scopeStatements,
  startedAtOf,
  TRANSACTION_CLOCK_QUERY,
  type Transaction,
} from './database.js';

const INT8_OID = 20;
const INT8_SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

// int8 arrives as text; every int8 we keep (prices, counts, positions) is far below 2^53,
// and the parser refuses to lose precision silently if that ever stops being true.
pg.types.setTypeParser(INT8_OID, (text: string) => {
  const value = BigInt(text);
  if (value > INT8_SAFE_MAX || value < -INT8_SAFE_MAX) throw new RangeError(`int8 ${text} exceeds 2^53`);
  return Number(value);
});

const LISTEN_RECONNECT_DELAY_MIN_MS = 100;
const LISTEN_RECONNECT_DELAY_MAX_MS = 5_000;

export interface PgDatabaseOptions {
  connectionString: string;
  poolSizeMax: number;
  statementTimeoutMs: number;
  connectionTimeoutMs: number;
  applicationName: string;
}

/**
 * PostgreSQL through pg.Pool: real concurrency, one pooled connection per transaction.
 *
 * A single statement of a view (`forTenant(t).query(…)`) is not wrapped in a transaction of its own,
 * which would cost BEGIN and COMMIT round trips around it: it runs in autocommit on a connection
 * whose session is already in the view's scope. Each pooled connection remembers the session scope
 * it was last given (`#sessionScopes`) and is given another, all fields explicitly, only when a
 * statement of another scope takes it; transactions override it locally (SET LOCAL) and leave it
 * as it was. A connection that fails is destroyed with what it remembered.
 */
export class PgDatabase implements Database {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #options: PgDatabaseOptions;
  readonly #sessionScopes = new WeakMap<pg.PoolClient, string>();
  /** The names the pool's statements are prepared under, the same on every pooled connection. */
  readonly #poolPrepared = new Map<string, string>();
  readonly #views = scopedViews(
    (scope, work) => this.#transaction(scope, work),
    (scope, sql, params) => this.#statement(scope, sql, params),
  );

  constructor(options: PgDatabaseOptions) {
    this.#options = options;
    // Pipelined: a statement is sent without waiting for the answer to the one before it, which is
    // what lets a transaction's BEGIN and first statement share a round trip (see #transaction).
    this.#pool = new pg.Pool({
      ...this.#connection(options.applicationName),
      max: options.poolSizeMax,
      pipeline: true,
    });
    // An idle client whose server connection drops emits here; without a listener the process would crash.
    this.#pool.on('error', () => {});
    // A client whose server goes away while no query of ours is running (being released, being
    // destroyed, between checkouts) emits 'error' too; unheard, Node would crash the process. The
    // failure reaches callers through their queries; this listener only keeps the process alive.
    this.#pool.on('connect', (client) => client.on('error', () => {}));
  }

  /** How every connection that runs statements (pooled or a dedicated session) is made. */
  #connection(applicationName: string): pg.ClientConfig {
    return {
      connectionString: this.#options.connectionString,
      connectionTimeoutMillis: this.#options.connectionTimeoutMs,
      statement_timeout: this.#options.statementTimeoutMs,
      // The server's statement_timeout cancels a slow statement first; only a server that cannot
      // answer at all (paused, unreachable) lets the client's own deadline fire.
      query_timeout: this.#options.statementTimeoutMs + DATABASE_POLICY.queryTimeoutMarginMs,
      keepAlive: true,
      application_name: applicationName,
    };
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

  async #statement<Row>(
    scope: ScopeStatements,
    sql: string,
    params: readonly unknown[] | undefined,
  ): Promise<QueryResult<Row>> {
    const client = await this.#pool.connect();
    let connectionBroken = false;
    try {
      if (this.#sessionScopes.get(client) !== scope.session) {
        // Forgotten first: should the switch fail half way, the connection is in no known scope.
        this.#sessionScopes.delete(client);
        await client.query(scope.session);
        this.#sessionScopes.set(client, scope.session);
      }
      const result = await client.query(this.#prepared(sql, params ?? []));
      return resultOf<Row>(result);
    } catch (error) {
      connectionBroken = isConnectivityError(error);
      throw error;
    } finally {
      client.release(connectionBroken);
    }
  }

  async #transaction<T>(scope: ScopeStatements, work: (tx: Transaction) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    let connectionBroken = false;
    const committed: (() => void)[] = [];
    // One message: BEGIN, the scope and the clock travel together (simple protocol). Not awaited:
    // the pool's connections pipeline, so the transaction's first statement follows it on the wire
    // and both are answered in one round trip. That statement cannot run outside the scope: should
    // the scope fail, BEGIN has already opened the block and PostgreSQL refuses everything after it
    // until the rollback; what the caller sees is then the scope's own error, not that refusal.
    // A pipelined query may never be awaited (an earlier one failed first): its rejection is
    // handled here, and each is awaited through afterBegin.
    const send = <R = pg.QueryResult>(query: string | pg.QueryConfig): Promise<R> => {
      const sent = client.query(query) as unknown as Promise<R>;
      sent.catch(() => {});
      return sent;
    };
    // BEGIN and the first statement, which the work sends as soon as it is called, leave in one write.
    holdWritesUntilNextTick(client);
    const begun = send<pg.QueryResult[]>(`BEGIN; ${scope.transaction}; ${TRANSACTION_CLOCK_QUERY}`);
    const afterBegin = async <R>(sent: Promise<R>): Promise<R> => {
      await begun;
      return sent;
    };
    const atCommit = new CommitWrites();
    try {
      const tx: Transaction = {
        startedAt: async () => startedAtOf(await begun),
        query: async <Row>(sql: string, params: readonly unknown[] = []) => {
          atCommit.assertNoneYet();
          return resultOf<Row>(await afterBegin(send(this.#prepared(sql, params))));
        },
        async executeScript(sql: string) {
          atCommit.assertNoneYet();
          await afterBegin(send(sql));
        },
        afterCommit(callback: () => void) {
          committed.push(callback);
        },
        commitWith(statement: Statement) {
          atCommit.add(statement);
        },
      };
      const value = await work(tx);
      // Pipelined: the writes and COMMIT go out together. A write that fails aborts the transaction,
      // COMMIT then answers ROLLBACK, and the write's error is the one thrown.
      holdWritesUntilNextTick(client);
      const writes = atCommit.statements.map((statement) =>
        send(this.#prepared(statement.sql, statement.params)),
      );
      const commit = send('COMMIT');
      for (const write of writes) await afterBegin(write);
      if ((await afterBegin(commit)).command !== 'COMMIT') throw new Error('The transaction was rolled back');
      runAfterCommit(committed);
      return value;
    } catch (error) {
      // A dead connection cannot roll back, and waiting for it to say so would double the delay:
      // the server aborts the transaction when the connection goes.
      if (isConnectivityError(error)) {
        connectionBroken = true;
        throw error;
      }
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

  /**
   * A pooled statement, named so that each connection parses it once and PostgreSQL may settle on
   * a generic plan instead of planning it on every call (ADR 0033). Past the cap, new texts run
   * unnamed.
   */
  #prepared(sql: string, params: readonly unknown[]): pg.QueryConfig {
    const name = namedUnderCap(this.#poolPrepared, sql, 'omnistock_', POOL_PREPARED_STATEMENTS_MAX);
    return { text: sql, values: params as unknown[], ...(name === undefined ? {} : { name }) };
  }

  /**
   * A pg.Client of its own, put in the system scope once. A connectivity error on it, or the server
   * closing it, ends it: the caller opens another, and the server has released its locks. Its
   * statements are prepared on first use (see namedUnderCap): a session runs the same few
   * statements all its life, and the relay's run after every commit.
   */
  async session(purpose: SystemPurpose, planner: PlannerSettings = {}): Promise<DedicatedSession> {
    const client = new pg.Client(this.#connection(`${this.#options.applicationName}:${purpose}`));
    let ended = false;
    const end = async () => {
      if (ended) return;
      ended = true;
      await client.end().catch(() => {});
    };
    // Unheard, an error of an idle client would crash the process; it only ends the session.
    client.on('error', () => void end());
    client.on('end', () => {
      ended = true;
    });
    try {
      await client.connect();
      await client.query(scopeStatements({ kind: 'system', purpose }, 'session') + plannerStatement(planner));
    } catch (error) {
      await end();
      throw error;
    }
    // One statement at a time, in the order asked: the session's users (the relay's sequencer and
    // its watermark writer) do not wait for each other, and a pg.Client must not be handed a
    // query while it runs another.
    let previous: Promise<unknown> = Promise.resolve();
    const prepared = new Map<string, string>();
    return {
      get ended() {
        return ended;
      },
      end,
      async query<Row>(sql: string, params: readonly unknown[] = []) {
        const name = namedUnderCap(prepared, sql, 'omnistock_session_', SESSION_PREPARED_STATEMENTS_MAX);
        const statement = { name, text: sql, values: params as unknown[] };
        const running = previous.then(() => client.query(statement));
        previous = running.catch(() => {});
        try {
          return resultOf<Row>(await running);
        } catch (error) {
          if (isConnectivityError(error)) await end();
          throw error;
        }
      },
    };
  }

  /**
   * LISTEN needs a session of its own, outside the pool. The connection is re-established with
   * backoff when it drops; `onNotify('')` is called after each reconnect so the caller re-checks
   * whatever it may have missed meanwhile.
   */
  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    assertChannelName(channel);
    let client: pg.Client | undefined;
    let stopped = false;
    let delayMs = LISTEN_RECONNECT_DELAY_MIN_MS;
    let retry: NodeJS.Timeout | undefined;
    const connect = async (): Promise<void> => {
      const candidate = new pg.Client({
        connectionString: this.#options.connectionString,
        connectionTimeoutMillis: this.#options.connectionTimeoutMs,
        application_name: `${this.#options.applicationName}:listen`,
      });
      candidate.on('notification', (message) => {
        if (message.channel === channel) onNotify(message.payload ?? '');
      });
      candidate.on('error', () => reconnect(candidate));
      candidate.on('end', () => reconnect(candidate));
      await candidate.connect();
      await candidate.query(`LISTEN ${channel}`);
      client = candidate;
      delayMs = LISTEN_RECONNECT_DELAY_MIN_MS;
    };
    const reconnect = (broken: pg.Client) => {
      if (stopped || client !== broken) return;
      client = undefined;
      broken.end().catch(() => {});
      scheduleRetry();
    };
    const scheduleRetry = () => {
      if (stopped || retry !== undefined) return;
      retry = setTimeout(() => {
        retry = undefined;
        connect()
          .then(() => onNotify(''))
          .catch(() => {
            delayMs = Math.min(delayMs * 2, LISTEN_RECONNECT_DELAY_MAX_MS);
            scheduleRetry();
          });
      }, delayMs);
      retry.unref();
    };
    await connect();
    return async () => {
      stopped = true;
      clearTimeout(retry);
      await client?.end().catch(() => {});
      client = undefined;
    };
  }

  async ping(): Promise<void> {
    await this.#pool.query('SELECT 1');
  }

  /** Autovacuum's work. */
  async reclaimDeadRows(): Promise<void> {}

  async close(): Promise<void> {
    await this.#pool.end();
  }
}

/**
 * Holds what the client sends until the next tick, so that statements sent one after the other in
 * this tick leave in one write (pg writes each statement on its own). Each write wakes the server's
 * backend once, and on a virtual machine a write that wakes another process costs more than the
 * statement it carries.
 */
function holdWritesUntilNextTick(client: pg.PoolClient): void {
  const socket = client.connection.stream;
  // pg corks and uncorks around each statement it writes, within the call: corked now means by us.
  if (socket.writableCorked > 0) return;
  socket.cork();
  process.nextTick(() => socket.uncork());
}

function resultOf<Row>(result: pg.QueryResult): QueryResult<Row> {
  return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
}

/** Statements one session prepares at most; beyond them it runs statements unnamed. */
const SESSION_PREPARED_STATEMENTS_MAX = 32;
/**
 * Statements the pool prepares at most, on each of its connections: every fixed statement of the
 * service, with room to spare (on each connection, the server keeps one parsed statement, and
 * possibly its plan, per name).
 */
const POOL_PREPARED_STATEMENTS_MAX = 256;

/**
 * The name `sql` is prepared under (pg prepares a named statement once per connection, and then
 * only binds it), or undefined once `max` texts have a name: a statement built anew on every call
 * would otherwise leave a prepared statement per call on the server.
 */
function namedUnderCap(
  prepared: Map<string, string>,
  sql: string,
  prefix: string,
  max: number,
): string | undefined {
  const known = prepared.get(sql);
  if (known !== undefined || prepared.size >= max) return known;
  const name = `${prefix}${prepared.size + 1}`;
  prepared.set(sql, name);
  return name;
}
