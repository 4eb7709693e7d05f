import { describe, expect, it } from 'vitest';
import { etagOf, optionalIfMatchVersion, requireIfMatchVersion } from './etag.js';
import { decodeCursor, encodeCursor, toPage } from './pagination.js';
import { AppError } from './problem.js';

describe('cursors', () => {
  it('round-trips a position', () => {
    expect(decodeCursor(encodeCursor(['abc', 'MAD-001']), ['string', 'string'])).toEqual(['abc', 'MAD-001']);
  });

  it('refuses cursors that were not made by us', () => {
    for (const cursor of [
      '!!!',
      Buffer.from('{"a":1}').toString('base64url'),
      encodeCursor([1]),
      encodeCursor(['a', 'b']),
    ]) {
      expect(() => decodeCursor(cursor, ['string'])).toThrow(AppError);
    }
  });

  it('pages limit + 1 rows into a page and the cursor of its last row', () => {
    const page = toPage(
      [{ id: 'a' }, { id: 'b' }, { id: 'c' }],
      2,
      (row) => [row.id],
      (row) => row.id,
    );
    expect(page.data).toEqual(['a', 'b']);
    expect(decodeCursor(page.next_cursor as string, ['string'])).toEqual(['b']);
    expect(
      toPage(
        [{ id: 'a' }],
        2,
        (row) => [row.id],
        (row) => row.id,
      ).next_cursor,
    ).toBeNull();
  });
});

describe('entity tags', () => {
  it('parses strong and weak tags of a version', () => {
    expect(requireIfMatchVersion(etagOf(7))).toBe(7);
    expect(requireIfMatchVersion('W/"12"')).toBe(12);
    expect(optionalIfMatchVersion(undefined)).toBeUndefined();
    expect(optionalIfMatchVersion('*')).toBeUndefined();
  });

  it('answers 428 without a tag and 412 for one that cannot match', () => {
    expect(() => requireIfMatchVersion(undefined)).toThrow(expect.objectContaining({ status: 428 }));
    expect(() => requireIfMatchVersion('"abc"')).toThrow(expect.objectContaining({ status: 412 }));
    expect(() => requireIfMatchVersion('7')).toThrow(expect.objectContaining({ status: 412 }));
  });
});
