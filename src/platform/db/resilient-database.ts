import {
  BrokenCircuitError,
  BulkheadRejectedError,
  bulkhead,
  type CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
  type IPolicy,
  wrap,
} from 'cockatiel';
import { type BreakerState, breakerStateOf } from '../breaker-state.js';
import {
  type Database,
  type DedicatedSession,
  isConnectivityError,
  type PlannerSettings,
  type ScopedDatabase,
  type SystemPurpose,
  type Transaction,
} from './database.js';

export interface ResilientDatabaseOptions {
  /** Consecutive connectivity failures that open the breaker. */
  breakerThreshold: number;
  /** How long calls fail fast before one is let through to probe the database. */
  breakerHalfOpenAfterMs: number;
  /**
   * Calls in flight at once — running, or waiting for a pooled connection (whose connect timeout
   * bounds that wait) — and calls queued for admission. Beyond both, a call is refused at once.
   * In flight must exceed the pool size, so that a call made while another holds a connection
   * waits on the pool's deadline, never on the queue alone.
   */
  callsInFlightMax: number;
  callsQueuedMax: number;
  onBreakerStateChange?: (state: BreakerState) => void;
}

/**
 * The database is unreachable (breaker open) or saturated (bulkhead full): the caller should retry
 * shortly. The HTTP layer answers 503 with `Retry-After`, at once instead of after a timeout.
 */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
  readonly code = 'DATABASE_UNAVAILABLE';

  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/**
 * The database behind its policy: a circuit breaker that opens after consecutive connectivity
 * failures (refused, reset, timed out — never a constraint violation or a conflict) so that while
 * PostgreSQL is down or paused every request fails in microseconds instead of holding a socket for
 * the connect timeout; and a bulkhead that bounds how many calls wait for a pooled connection, so a
 * slow database sheds load instead of queueing every request until it times out. Nothing is
 * retried here: a transaction is not known to be idempotent, so the caller (or its client) decides.
 */
export class ResilientDatabase implements Database {
  readonly kind: Database['kind'];
  readonly #policy: IPolicy;
  readonly #breakerState: () => CircuitState;
  readonly #halfOpenAfterSeconds: number;

  constructor(
    private readonly inner: Database,
    options: ResilientDatabaseOptions,
  ) {
    this.kind = inner.kind;
    const breaker = circuitBreaker(handleWhen(isConnectivityError), {
      halfOpenAfter: options.breakerHalfOpenAfterMs,
      breaker: new ConsecutiveBreaker(options.breakerThreshold),
    });
    breaker.onStateChange((state) => options.onBreakerStateChange?.(breakerStateOf(state)));
    this.#breakerState = () => breaker.state;
    this.#halfOpenAfterSeconds = Math.max(1, Math.ceil(options.breakerHalfOpenAfterMs / 1000));
    this.#policy = wrap(bulkhead(options.callsInFlightMax, options.callsQueuedMax), breaker);
  }

  /** `open` while calls fail fast; `half-open` while one probes; `closed` when the database answers. */
  get breakerState(): BreakerState {
    return breakerStateOf(this.#breakerState());
  }

  forTenant(tenantId: string): ScopedDatabase {
    return this.#guardedView(this.inner.forTenant(tenantId));
  }

  system(purpose: SystemPurpose): ScopedDatabase {
    return this.#guardedView(this.inner.system(purpose));
  }

  schemaOwner(): ScopedDatabase {
    return this.#guardedView(this.inner.schemaOwner());
  }

  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    return this.inner.listen(channel, onNotify);
  }

  /** Unguarded: its one background job retries on its own, and holds no pooled connection. */
  session(purpose: SystemPurpose, planner?: PlannerSettings): Promise<DedicatedSession> {
    return this.inner.session(purpose, planner);
  }

  /** Unguarded: readiness must report the database as it is, not as the breaker remembers it. */
  ping(): Promise<void> {
    return this.inner.ping();
  }

  /** Unguarded: maintenance, run on a timer that simply tries again. */
  reclaimDeadRows(): Promise<void> {
    return this.inner.reclaimDeadRows();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  #guardedView(view: ScopedDatabase): ScopedDatabase {
    return {
      query: <Row>(sql: string, params?: readonly unknown[]) =>
        this.#guarded(() => view.query<Row>(sql, params)),
      transaction: <T>(work: (tx: Transaction) => Promise<T>) => this.#guarded(() => view.transaction(work)),
    };
  }

  async #guarded<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await this.#policy.execute(call);
    } catch (error) {
      if (error instanceof BrokenCircuitError) {
        throw new DatabaseUnavailableError('The database is unavailable', this.#halfOpenAfterSeconds);
      }
      if (error instanceof BulkheadRejectedError) {
        throw new DatabaseUnavailableError('The database is saturated', 1);
      }
      throw error;
    }
  }
}
