import { describe, expect, it } from 'vitest';
import {
  adjustmentSignProblem,
  assertLevelInvariant,
  availableOf,
  compareLevelKeys,
} from './stock.domain.js';

describe('stock rules', () => {
  it('accepts changes whose sign fits their reason', () => {
    expect(adjustmentSignProblem('RESTOCK', 5)).toBeUndefined();
    expect(adjustmentSignProblem('RETURN', 1)).toBeUndefined();
    expect(adjustmentSignProblem('SALE', -2)).toBeUndefined();
    expect(adjustmentSignProblem('DAMAGE', -1)).toBeUndefined();
    expect(adjustmentSignProblem('LOSS', -1)).toBeUndefined();
    expect(adjustmentSignProblem('CORRECTION', -3)).toBeUndefined();
    expect(adjustmentSignProblem('CORRECTION', 3)).toBeUndefined();
  });

  it('explains a change whose sign contradicts its reason', () => {
    expect(adjustmentSignProblem('RESTOCK', -5)).toMatch(/must increase/);
    expect(adjustmentSignProblem('SALE', 2)).toMatch(/must decrease/);
    expect(adjustmentSignProblem('CORRECTION', 0)).toMatch(/not be 0/);
  });

  it('computes available as on-hand minus reserved', () => {
    expect(availableOf({ quantity: 10, reserved: 3 })).toBe(7);
  });

  it('asserts 0 ≤ reserved ≤ on-hand', () => {
    expect(() => assertLevelInvariant({ quantity: 5, reserved: 5 })).not.toThrow();
    expect(() => assertLevelInvariant({ quantity: 5, reserved: 6 })).toThrow(/invariant/);
    expect(() => assertLevelInvariant({ quantity: 5, reserved: -1 })).toThrow(/invariant/);
  });

  it('orders levels by product, then store, whatever the request order', () => {
    const keys = [
      { productId: 'b', storeId: 'MAD' },
      { productId: 'a', storeId: 'VAL' },
      { productId: 'a', storeId: 'BCN' },
    ];
    expect([...keys].sort(compareLevelKeys)).toEqual([keys[2], keys[1], keys[0]]);
    expect(compareLevelKeys(keys[0] as never, keys[0] as never)).toBe(0);
  });
});
