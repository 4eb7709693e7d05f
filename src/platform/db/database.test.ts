import { describe, expect, it } from 'vitest';
import { shiftPlaceholders } from './database.js';

describe('shiftPlaceholders', () => {
  it('moves every placeholder up by the offset, multi-digit ones whole', () => {
    expect(shiftPlaceholders('SELECT $1, $2::int[], $10 WHERE a = $1', 3)).toBe(
      'SELECT $4, $5::int[], $13 WHERE a = $4',
    );
  });

  it('leaves the statement as it is at offset 0', () => {
    const sql = "INSERT INTO t (a, b) SELECT $1, 'PENDING' FROM unnest($2::uuid[])";
    expect(shiftPlaceholders(sql, 0)).toBe(sql);
  });

  it('refuses a dollar-quoted body, whose dollars are not placeholders', () => {
    expect(() => shiftPlaceholders('DO $$ BEGIN PERFORM 1; END $$', 2)).toThrow(/dollar-quoted/);
  });
});
