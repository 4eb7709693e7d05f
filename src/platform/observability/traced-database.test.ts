import { describe, expect, it } from 'vitest';
import { spanNameOf } from './traced-database.js';

describe('spanNameOf', () => {
  it('names a statement by its operation and table', () => {
    expect(spanNameOf('SELECT id, name FROM products WHERE tenant_id = $1')).toBe('SELECT products');
    expect(spanNameOf('UPDATE stock_levels SET quantity = quantity + $4 WHERE id = $1')).toBe(
      'UPDATE stock_levels',
    );
    expect(spanNameOf('INSERT INTO outbox_events (id) VALUES ($1)')).toBe('INSERT outbox_events');
    expect(spanNameOf('BEGIN')).toBe('BEGIN');
  });

  it('names a statement with common table expressions by its main statement', () => {
    expect(
      spanNameOf(
        `WITH alongside AS (INSERT INTO stock_movements (tenant_id, id) VALUES ($1, $2))
         INSERT INTO outbox_events (id, tenant_id) VALUES ($3, $4), ($5, $6)`,
      ),
    ).toBe('INSERT outbox_events');
    expect(
      spanNameOf(
        `WITH lock AS (SELECT pg_try_advisory_xact_lock($2::bigint) AS acquired),
              pending AS MATERIALIZED (SELECT position FROM outbox_events WHERE (SELECT acquired FROM lock))
         SELECT id FROM pending UNION ALL SELECT NULL FROM lock WHERE NOT acquired`,
      ),
    ).toBe('SELECT pending');
  });
});
