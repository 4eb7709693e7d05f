import { describe, expect, it } from 'vitest';
import {
  allocateReservations,
  type HeldByCustomer,
  levelKeyOf,
  levelsOf,
  type RequestedReservation,
} from './reservation-allocation.domain.js';

const policy = { unitsPerProductMax: 5, openMax: 3 };
const P = '00000000-0000-4000-8000-000000000001';
const Q = '00000000-0000-4000-8000-000000000002';
const request = (
  customerId: string,
  quantity: number,
  productId = P,
  storeId = 'S1',
): RequestedReservation => ({
  productId,
  storeId,
  customerId,
  quantity,
});
const available = (entries: [RequestedReservation, number][]) =>
  new Map(entries.map(([level, units]) => [levelKeyOf(level), units]));
const none = new Map<string, HeldByCustomer>();

describe('allocating a coalesced batch of reservations', () => {
  it('grants requests in arrival order while the stock lasts, each all or nothing', () => {
    const requests = [request('a', 2), request('b', 3), request('c', 2), request('d', 1)];
    const result = allocateReservations(requests, available([[request('x', 0), 6]]), none, policy);
    expect(result.allocations).toEqual([
      { kind: 'reserved' },
      { kind: 'reserved' },
      { kind: 'insufficient', available: 1 },
      { kind: 'reserved' },
    ]);
    expect(result.unitsByLevel).toEqual(new Map([[levelKeyOf(request('x', 0)), 6]]));
  });

  it('keeps levels apart and refuses a level that is missing (or not sellable)', () => {
    const otherStore = request('b', 1, P, 'S2');
    const otherProduct = request('c', 1, Q, 'S1');
    const result = allocateReservations(
      [request('a', 1), otherStore, otherProduct],
      available([
        [request('a', 1), 1],
        [otherStore, 0],
      ]),
      none,
      policy,
    );
    expect(result.allocations).toEqual([
      { kind: 'reserved' },
      { kind: 'insufficient', available: 0 },
      { kind: 'level-not-found' },
    ]);
    expect([...result.unitsByLevel.keys()]).toEqual([levelKeyOf(request('a', 1))]);
  });

  it("adds up one customer's requests in a batch against the caps, on top of what they already hold", () => {
    const held = new Map([['a', { unitsByProduct: new Map([[P, 2]]), openCount: 1 }]]);
    const result = allocateReservations(
      [request('a', 2), request('a', 2), request('b', 2), request('a', 1, Q), request('a', 1, Q)],
      available([
        [request('x', 0), 100],
        [request('x', 0, Q), 100],
      ]),
      held,
      policy,
    );
    expect(result.allocations.map((allocation) => allocation.kind)).toEqual([
      'reserved',
      'hold-limit',
      'reserved',
      'reserved',
      'hold-limit',
    ]);
    expect(result.allocations[1]).toMatchObject({
      violation: { kind: 'units_per_product', held: 4, requested: 2, limit: 5 },
    });
    expect(result.allocations[4]).toMatchObject({ violation: { kind: 'open_reservations', held: 3 } });
    // The holds passed in are not changed: a fallback pass starts from the same ones.
    expect(held.get('a')).toEqual({ unitsByProduct: new Map([[P, 2]]), openCount: 1 });
  });

  it('counts only granted requests towards the caps: a request refused for stock holds nothing', () => {
    const result = allocateReservations(
      [request('a', 3), request('a', 2), request('a', 1)],
      available([[request('x', 0), 3]]),
      none,
      { unitsPerProductMax: 4, openMax: 10 },
    );
    expect(result.allocations).toEqual([
      { kind: 'reserved' },
      { kind: 'hold-limit', violation: expect.objectContaining({ held: 3, requested: 2 }) },
      { kind: 'insufficient', available: 0 },
    ]);
  });

  it('with unlimited stock gives the totals one conditional UPDATE tries', () => {
    const result = allocateReservations(
      [request('a', 2), request('b', 4), request('a', 4)],
      available([[request('x', 0), Number.POSITIVE_INFINITY]]),
      none,
      policy,
    );
    expect(result.allocations.map((allocation) => allocation.kind)).toEqual([
      'reserved',
      'reserved',
      'hold-limit',
    ]);
    expect(result.unitsByLevel.get(levelKeyOf(request('x', 0)))).toBe(6);
  });

  it('lists each level of a batch once, in order of first arrival', () => {
    const levels = levelsOf([
      request('a', 1, Q),
      request('b', 1),
      request('c', 1, Q),
      request('d', 1, P, 'S2'),
    ]);
    expect(levels.map(levelKeyOf)).toEqual([`${Q}:S1`, `${P}:S1`, `${P}:S2`]);
  });
});
