/**
 * Pure stock rules: no I/O. The database enforces the same invariants with conditional updates
 * and CHECK constraints; these give callers precise errors before a statement runs.
 */

/** Largest on-hand quantity of one level (int32 in the database, with room for arithmetic). */
export const QUANTITY_ON_HAND_MAX = 1_000_000_000;
/** Largest single adjustment. */
export const QUANTITY_CHANGE_MAX = 1_000_000;

/** Why a person or system changes on-hand with `adjust`. */
export const ADJUSTMENT_REASONS = ['RESTOCK', 'SALE', 'RETURN', 'DAMAGE', 'LOSS', 'CORRECTION'] as const;
export type AdjustmentReason = (typeof ADJUSTMENT_REASONS)[number];

/** Why on-hand is set to an absolute count. */
export const SET_REASONS = ['COUNT', 'CORRECTION'] as const;
export type SetReason = (typeof SET_REASONS)[number];

/** Reasons the system writes itself; never accepted from clients. */
export const SystemReasons = {
  initial: 'INITIAL',
  transferOut: 'TRANSFER_OUT',
  transferIn: 'TRANSFER_IN',
  reservationConfirmed: 'RESERVATION_CONFIRMED',
  reserved: 'RESERVED',
  reservationReleased: 'RESERVATION_RELEASED',
  reservationExpired: 'RESERVATION_EXPIRED',
  productDeleted: 'PRODUCT_DELETED',
} as const;

const ADJUSTMENT_SIGN: Record<AdjustmentReason, 'increase' | 'decrease' | 'either'> = {
  RESTOCK: 'increase',
  RETURN: 'increase',
  SALE: 'decrease',
  DAMAGE: 'decrease',
  LOSS: 'decrease',
  CORRECTION: 'either',
};

/** A restock that lowers stock or a sale that raises it is a data-entry error; say so. */
export function adjustmentSignProblem(reason: AdjustmentReason, quantityChange: number): string | undefined {
  const sign = ADJUSTMENT_SIGN[reason];
  if (quantityChange === 0) return 'quantity_change must not be 0';
  if (sign === 'increase' && quantityChange < 0)
    return `${reason} must increase stock (positive quantity_change)`;
  if (sign === 'decrease' && quantityChange > 0)
    return `${reason} must decrease stock (negative quantity_change)`;
  return undefined;
}

export interface LevelQuantities {
  quantity: number;
  reserved: number;
}

export function availableOf(level: LevelQuantities): number {
  return level.quantity - level.reserved;
}

/** What can still be sold: nothing once the product is deleted, whatever is on the shelf. */
export function sellableQuantityOf(level: LevelQuantities & { sellable: boolean }): number {
  return level.sellable ? availableOf(level) : 0;
}

/** The invariant of every level, asserted after each write as a last line of defence. */
export function assertLevelInvariant(level: LevelQuantities): void {
  if (!(level.reserved >= 0 && level.reserved <= level.quantity && level.quantity <= QUANTITY_ON_HAND_MAX)) {
    throw new Error(`Stock invariant violated: quantity=${level.quantity} reserved=${level.reserved}`);
  }
}

export interface LevelKey {
  productId: string;
  storeId: string;
}

/**
 * The one order in which a transaction locks several levels: by product, then store. Every
 * multi-level write sorts its levels with this, so no two transactions wait on each other in a cycle.
 */
export function compareLevelKeys(left: LevelKey, right: LevelKey): number {
  if (left.productId !== right.productId) return left.productId < right.productId ? -1 : 1;
  if (left.storeId !== right.storeId) return left.storeId < right.storeId ? -1 : 1;
  return 0;
}
