/**
 * The Database port. Adapters: PostgreSQL (pg.Pool) and PGlite (embedded, one connection).
 *
 * Guarantees: `transaction` runs its callback in one database transaction at READ COMMITTED,
 * commits when the callback resolves and rolls back when it throws; the error is re-thrown.
 * Queries are always parameterised. Rows come back with int8 columns as JavaScript numbers
 * (every int8 we store is bounded far below 2^53) and timestamptz columns as Date.
 */
export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>>;
}

/** SQL with its parameters ($1…), built by one module for another to send. */
export interface Statement {
  sql: string;
  params: unknown[];
}

/**
 * `sql` with every placeholder moved up by `offset` ($1 becomes $(1 + offset)), so that statements
 * built on their own can travel as one (as CTEs) with their parameters concatenated. Statements
 * here carry values as parameters, never `$n` inside a literal; a dollar-quoted body is refused.
 */
export function shiftPlaceholders(sql: string, offset: number): string {
  if (sql.includes('$$')) throw new Error('A dollar-quoted statement cannot be combined with another');
  return offset === 0
    ? sql
    : sql.replace(/\$(\d+)/g, (_, position: string) => `$${Number(position) + offset}`);
}

export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
}

export type DatabaseKind = 'postgres' | 'pglite';

/** What a transaction callback gets: parameterised queries, and scripts for migrations. */
export interface Transaction extends Queryable {
  /** Runs statements separated by semicolons, without parameters (migrations). */
  executeScript(sql: string): Promise<void>;
  /** Runs `callback` once the transaction committed, before `transaction()` resolves; never on rollback. */
  afterCommit(callback: () => void): void;
  /**
   * A write the work does not read back, run as the transaction's last statement once the work has
   * returned, and sent with COMMIT (one round trip on PostgreSQL). Should it fail, the transaction
   * rolls back and `transaction()` throws its error. The work may run no statement after this call:
   * nothing could see what it writes.
   */
  commitWith(statement: Statement): void;
  /**
   * The database clock's now() in this transaction: what every now() in it returns. Read with BEGIN,
   * in the same round trip, so what a statement stores as now() is known without reading it back.
   * A promise because BEGIN's answer may still be on its way when the first statement is sent.
   */
  startedAt(): Promise<Date>;
}

/**
 * The writes a transaction sends with COMMIT (`Transaction.commitWith`), in the order given, and the
 * rule that comes with them: once there is one, the work may run no statement of its own.
 */
export class CommitWrites {
  readonly #statements: Statement[] = [];

  add(statement: Statement): void {
    this.#statements.push(statement);
  }

  /** Throws when a write is already waiting for COMMIT: nothing may run after it. */
  assertNoneYet(): void {
    if (this.#statements.length > 0)
      throw new Error('No statement may follow commitWith: it runs last, with COMMIT');
  }

  get statements(): readonly Statement[] {
    return this.#statements;
  }
}

/** Sent last with BEGIN and the scope; `startedAtOf` reads its answer. */
export const TRANSACTION_CLOCK_QUERY = 'SELECT now() AS started_at';

/** The transaction's now() from the results of the statements sent with BEGIN (the clock query last). */
export function startedAtOf(results: readonly { rows: readonly unknown[] }[]): Date {
  const row = results.at(-1)?.rows[0] as { started_at?: unknown } | undefined;
  if (!(row?.started_at instanceof Date)) throw new Error('BEGIN did not answer the transaction clock');
  return row.started_at;
}

/** Runs after-commit callbacks; one failing does not stop the others or undo the commit. */
export function runAfterCommit(callbacks: readonly (() => void)[]): void {
  for (const callback of callbacks) {
    try {
      callback();
    } catch {
      // The transaction is committed; a listener's failure is the listener's to report.
    }
  }
}

/** A view of the database bound to one scope: every query and transaction runs inside it. */
export interface ScopedDatabase extends Queryable {
  /**
   * Runs `work` in one transaction bound to this scope. `query` on the view is a transaction of one
   * statement: work that reads twice should take one transaction and read twice inside it.
   */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
}

/**
 * The cross-tenant jobs, by name. Each sees every tenant's rows, so each is a reviewed entry here:
 * `grep -rn "\.system('"` lists every use.
 */
export const SYSTEM_PURPOSES = [
  'api-key-authentication',
  'refresh-token',
  'outbox-relay',
  'event-log-tail',
  'reservation-expiry',
  'webhook-delivery',
  'stock-ledger-audit',
  'metrics',
  'maintenance',
  'secret-rotation',
  'startup-check',
] as const;
export type SystemPurpose = (typeof SYSTEM_PURPOSES)[number];

/**
 * Row-level security (migrations/0005): every transaction of a scope switches to APP_ROLE, which
 * cannot bypass the policies, and sets who it serves transaction-locally, so nothing carries over
 * to the next transaction on a pooled connection. Unset or empty means no tenant: the policies show
 * nothing.
 */
export const APP_ROLE = 'omnistock_app';
export const TENANT_SETTING = 'omnistock.tenant_id';
export const SYSTEM_SETTING = 'omnistock.system';
/** The tenant id rule of the tenants table; checked again here because the id is inlined in SQL. */
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{1,49}$/;

export type Scope =
  | { kind: 'tenant'; tenantId: string }
  | { kind: 'system'; purpose: SystemPurpose }
  | { kind: 'owner' };

/**
 * The statements that put a connection in a scope: the role and both settings, every one of them
 * explicitly, so that no scope inherits anything from whatever the connection served before.
 * `transaction`: SET LOCAL, sent with BEGIN in one simple-protocol message, so binding a
 * transaction to a tenant costs no extra round trip. `session`: for the single statements a
 * PostgreSQL connection runs outside a transaction (see PgDatabase). The tenant id is inlined, so it
 * is validated first; a value that fails is a programming error, never a query.
 */
export function scopeStatements(scope: Scope, lifetime: 'transaction' | 'session'): string {
  const local = lifetime === 'transaction';
  const setting = (name: string, value: string) => `set_config('${name}', '${value}', ${local})`;
  const role = (name: string) => `SET ${local ? 'LOCAL ' : ''}ROLE ${name}`;
  switch (scope.kind) {
    case 'owner':
      return `${role('NONE')}; SELECT ${setting(TENANT_SETTING, '')}, ${setting(SYSTEM_SETTING, '')}`;
    case 'system':
      if (!(SYSTEM_PURPOSES as readonly string[]).includes(scope.purpose)) {
        throw new Error(`Unknown system purpose ${scope.purpose}`);
      }
      return `${role(APP_ROLE)}; SELECT ${setting(TENANT_SETTING, '')}, ${setting(SYSTEM_SETTING, 'on')}`;
    case 'tenant':
      if (!TENANT_ID_PATTERN.test(scope.tenantId)) throw new Error('Invalid tenant id for a database scope');
      return `${role(APP_ROLE)}; SELECT ${setting(TENANT_SETTING, scope.tenantId)}, ${setting(SYSTEM_SETTING, '')}`;
  }
}

/** Planner settings by name (`enable_seqscan: 'off'`…), set for a dedicated session's lifetime. */
export type PlannerSettings = Readonly<Record<string, string>>;

const PLANNER_SETTING = /^[a-z_]+$/;

/**
 * The statement that applies `settings` to a session; inlined in the session's opening message, so
 * names and values are checked first (a value that fails is a programming error, never a query).
 */
export function plannerStatement(settings: PlannerSettings): string {
  const calls = Object.entries(settings).map(([name, value]) => {
    if (!PLANNER_SETTING.test(name) || !PLANNER_SETTING.test(value)) {
      throw new Error(`Invalid planner setting ${name} = ${value}`);
    }
    return `set_config('${name}', '${value}', false)`;
  });
  return calls.length === 0 ? '' : `; SELECT ${calls.join(', ')}`;
}

/**
 * A connection of its own, outside the pool, whose statements run in autocommit in a system scope:
 * for a background job that holds a session-level advisory lock across statements (a lease), and
 * that should neither take turns with requests for pooled connections nor switch their scope back
 * and forth. Its session locks end with it, also when its connection is lost.
 */
export interface DedicatedSession extends Queryable {
  /** The connection is gone (ended, or lost with the server): its locks with it; open another. */
  readonly ended: boolean;
  end(): Promise<void>;
}

export interface Database {
  readonly kind: DatabaseKind;
  /** Work for one tenant: row-level security shows and accepts that tenant's rows only. */
  forTenant(tenantId: string): ScopedDatabase;
  /** Cross-tenant work of a named background job (see SYSTEM_PURPOSES). Still not the owner. */
  system(purpose: SystemPurpose): ScopedDatabase;
  /**
   * As the connecting user, which owns the schema and bypasses nothing it does not own: migrations
   * (and test resets). Request handling never uses it.
   */
  schemaOwner(): ScopedDatabase;
  /**
   * Calls `onNotify` for each NOTIFY on `channel` (delivered after the notifying transaction
   * commits). Notifications can be missed while a connection is re-established, so every listener
   * keeps a slow safety sweep. Resolves to a function that stops listening.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /**
   * Opens a dedicated session in `purpose`'s system scope (see DedicatedSession), with `planner`
   * settings for all its statements where the session is a connection of its own (PostgreSQL).
   * PGlite's session is its one connection, which serves everything else too: there they are not set.
   */
  session(purpose: SystemPurpose, planner?: PlannerSettings): Promise<DedicatedSession>;
  /** Cheap round trip used by readiness checks. */
  ping(): Promise<void>;
  /**
   * Reclaims the rows that updates and deletes left dead, where nothing else does. PostgreSQL's
   * autovacuum does it on its own; PGlite runs no autovacuum, so there the outbox's partial index
   * of unsequenced rows would keep an entry for every event ever sequenced, and each sequencing
   * run would visit them all.
   */
  reclaimDeadRows(): Promise<void>;
  close(): Promise<void>;
}

/** A scope's opening statements, made (and validated) once per view. */
export interface ScopeStatements {
  /** SET LOCAL: sent with BEGIN. */
  transaction: string;
  /** Session-level: for a single statement outside a transaction. */
  session: string;
}

/** Runs one statement in a scope; an adapter that has no cheaper way runs it as a transaction. */
export type ScopedStatementRunner = <Row>(
  scope: ScopeStatements,
  sql: string,
  params: readonly unknown[] | undefined,
) => Promise<QueryResult<Row>>;

/**
 * Builds the three views from an adapter's primitives: a transaction opened in a scope, and
 * optionally a cheaper single statement in a scope.
 */
export function scopedViews(
  run: <T>(scope: ScopeStatements, work: (tx: Transaction) => Promise<T>) => Promise<T>,
  runStatement: ScopedStatementRunner = (scope, sql, params) => run(scope, (tx) => tx.query(sql, params)),
): Pick<Database, 'forTenant' | 'system' | 'schemaOwner'> {
  const view = (scope: Scope): ScopedDatabase => {
    const statements = {
      transaction: scopeStatements(scope, 'transaction'),
      session: scopeStatements(scope, 'session'),
    };
    return {
      transaction: (work) => run(statements, work),
      query: (sql, params) => runStatement(statements, sql, params),
    };
  };
  return {
    forTenant: (tenantId) => view({ kind: 'tenant', tenantId }),
    system: (purpose) => view({ kind: 'system', purpose }),
    schemaOwner: () => view({ kind: 'owner' }),
  };
}

/** SQLSTATE codes we react to. https://www.postgresql.org/docs/current/errcodes-appendix.html */
export const SqlState = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  checkViolation: '23514',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  queryCanceled: '57014',
} as const;

export function sqlStateOf(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/** Connection-level SQLSTATEs and socket errors: the database is unreachable or restarting. */
const CONNECTIVITY_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH']);
const CONNECTIVITY_SQL_STATES = new Set(['57P01', '57P02', '57P03']);
const CONNECTIVITY_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|connection error/i;

/**
 * The database could not be reached or dropped the connection: not the request's fault, worth a
 * retry later. Constraint violations, conflicts and timeouts of a statement that ran are not.
 */
export function isConnectivityError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (CONNECTIVITY_CODES.has(code) || CONNECTIVITY_SQL_STATES.has(code) || code.startsWith('08'))
      return true;
  }
  return CONNECTIVITY_MESSAGES.test(error.message);
}

/** The constraint a PostgreSQL error names, when it names one (both adapters expose it). */
export function constraintOf(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'constraint' in error) {
    const constraint = (error as { constraint: unknown }).constraint;
    if (typeof constraint === 'string') return constraint;
  }
  return undefined;
}

/** LISTEN takes an identifier, not a parameter: only plain names are accepted. */
export function assertChannelName(channel: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new Error(`Invalid channel name ${channel}`);
}
