import { describe, expect, it } from 'vitest';
import { holdViolationOf } from './customer-holds.domain.js';

const policy = { unitsPerProductMax: 5, openMax: 3 };
const holds = (units: Record<string, number>, openCount: number) => ({
  unitsByProduct: new Map(Object.entries(units)),
  openCount,
});

describe('customer hold caps', () => {
  it('allows lines that fit both caps, up to the limits exactly', () => {
    expect(holdViolationOf(holds({ a: 3 }, 1), [{ productId: 'a', quantity: 2 }], policy)).toBeUndefined();
    expect(holdViolationOf(holds({}, 2), [{ productId: 'b', quantity: 5 }], policy)).toBeUndefined();
  });

  it('refuses units of one product past the cap, adding the lines of a batch together', () => {
    expect(holdViolationOf(holds({ a: 4 }, 1), [{ productId: 'a', quantity: 2 }], policy)).toEqual({
      kind: 'units_per_product',
      productId: 'a',
      held: 4,
      requested: 2,
      limit: 5,
    });
    const batch = [
      { productId: 'a', quantity: 3 },
      { productId: 'a', quantity: 3 },
    ];
    expect(holdViolationOf(holds({}, 0), batch, policy)?.kind).toBe('units_per_product');
  });

  it('refuses more open reservations than the cap, counting every line of a batch', () => {
    const lines = [
      { productId: 'a', quantity: 1 },
      { productId: 'b', quantity: 1 },
    ];
    expect(holdViolationOf(holds({}, 2), lines, policy)).toEqual({
      kind: 'open_reservations',
      held: 2,
      requested: 2,
      limit: 3,
    });
  });
});
