import { trace } from '@opentelemetry/api';
import type { Database, Queryable, ScopedDatabase } from '../db/database.js';
import { inSpan, SpanKind } from './tracing.js';

/** Statement text kept on a span: enough to recognise it, bounded so spans stay small. */
const STATEMENT_LENGTH_MAX = 500;

/**
 * A Database whose queries and transactions are CLIENT spans (for PGlite as for PostgreSQL; the
 * pg instrumentation would cover only the latter, and only with a module loader hook). app.ts
 * wraps the database with it only when tracing is on: off, there is no wrapper at all. Only work
 * already inside a trace gets SQL spans.
 * Statements are parameterised, so their text holds no values.
 */
export function tracedDatabase(database: Database): Database {
  const system = database.kind === 'pglite' ? 'pglite' : 'postgresql';
  const traced =
    (db: Queryable): Queryable['query'] =>
    (sql, params) =>
      // Background work outside any trace (sweeps, claims) makes no root spans of its own.
      trace.getActiveSpan() === undefined
        ? db.query(sql, params)
        : inSpan(
            spanNameOf(sql),
            {
              kind: SpanKind.CLIENT,
              attributes: { 'db.system.name': system, 'db.query.text': sql.slice(0, STATEMENT_LENGTH_MAX) },
            },
            () => db.query(sql, params),
          );
  const tracedView = (view: ScopedDatabase): ScopedDatabase => ({
    query: traced(view),
    transaction: (work) =>
      trace.getActiveSpan() === undefined
        ? view.transaction(work)
        : inSpan('db transaction', { attributes: { 'db.system.name': system } }, () =>
            view.transaction((tx) => work(overriding(tx, { query: traced(tx) }))),
          ),
  });
  return overriding(database, {
    forTenant: (tenantId) => tracedView(database.forTenant(tenantId)),
    system: (purpose) => tracedView(database.system(purpose)),
    schemaOwner: () => tracedView(database.schemaOwner()),
  });
}

/**
 * `target` with some members replaced; every other member passes through (bound to the target),
 * so members the port gains later need no change here.
 */
function overriding<T extends object>(target: T, replaced: Partial<T>): T {
  return new Proxy(target, {
    get(object, property) {
      if (Object.hasOwn(replaced, property)) return replaced[property as keyof T];
      const value: unknown = Reflect.get(object, property, object);
      return typeof value === 'function' ? value.bind(object) : value;
    },
  });
}

/** An innermost parenthesised part; removed until none is left, which leaves the top level. */
const PARENTHESISED = /\([^()]*\)/;
const CTE_HEADS = /^\s*WITH\s+(?:RECURSIVE\s+)?(?:\w+\s+AS\s+(?:NOT\s+)?(?:MATERIALIZED\s+)?,?\s*)+/i;

/**
 * `SELECT`, `INSERT outbox_events`…: the operation and, when easy to see, the table. A statement
 * with common table expressions is named by its main statement, the one after them.
 */
export function spanNameOf(statement: string): string {
  let sql = statement;
  if (/^\s*WITH\b/i.test(sql)) {
    while (PARENTHESISED.test(sql)) sql = sql.replaceAll(new RegExp(PARENTHESISED, 'g'), ' ');
    sql = sql.replace(CTE_HEADS, '');
  }
  const match = /^\s*(\w+)(?:[\s\S]*?\b(?:FROM|INTO|UPDATE)\s+([a-z_][a-z0-9_]*))?/i.exec(sql);
  const operation = (match?.[1] ?? 'query').toUpperCase();
  const table = operation === 'UPDATE' ? /^\s*UPDATE\s+([a-z_][a-z0-9_]*)/i.exec(sql)?.[1] : match?.[2];
  return table === undefined ? operation : `${operation} ${table}`;
}
