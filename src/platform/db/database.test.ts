import { describe, expect, it } from 'vitest';
import { plannerStatement, shiftPlaceholders } from './database.js';

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

describe('plannerStatement', () => {
  it('sets each setting for the session, appended to its opening statements', () => {
    expect(plannerStatement({ enable_seqscan: 'off', jit: 'off' })).toBe(
      "; SELECT set_config('enable_seqscan', 'off', false), set_config('jit', 'off', false)",
    );
    expect(plannerStatement({})).toBe('');
  });

  it('refuses a name or value that is not a plain word, since both are inlined', () => {
    expect(() => plannerStatement({ "jit', 'on": 'off' })).toThrow(/Invalid planner setting/);
    expect(() => plannerStatement({ jit: "off'); DROP TABLE x; --" })).toThrow(/Invalid planner setting/);
  });
});
