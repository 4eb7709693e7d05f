/**
 * Anti-hoarding (OWASP API6, sensitive business flows): one customer may not sit on a product's
 * stock, nor on many checkouts at once. Pure rules; the service runs them inside the reservation
 * transaction, under a per-customer lock, so concurrent requests cannot pass the caps together.
 */
export interface CustomerHoldPolicy {
  /** Pending units one customer may hold of one product, across stores. */
  unitsPerProductMax: number;
  /** Pending reservations one customer may hold in all. */
  openMax: number;
}

/** What a customer holds now: pending, not yet due reservations. */
export interface CustomerHolds {
  /** Pending units per product id. */
  unitsByProduct: ReadonlyMap<string, number>;
  openCount: number;
}

export interface RequestedHold {
  productId: string;
  quantity: number;
}

export type HoldViolation =
  | { kind: 'units_per_product'; productId: string; held: number; requested: number; limit: number }
  | { kind: 'open_reservations'; held: number; requested: number; limit: number };

/** The first cap the requested lines would break, or undefined when they all fit. */
export function holdViolationOf(
  holds: CustomerHolds,
  requested: readonly RequestedHold[],
  policy: CustomerHoldPolicy,
): HoldViolation | undefined {
  if (holds.openCount + requested.length > policy.openMax) {
    return {
      kind: 'open_reservations',
      held: holds.openCount,
      requested: requested.length,
      limit: policy.openMax,
    };
  }
  const requestedByProduct = new Map<string, number>();
  for (const line of requested) {
    requestedByProduct.set(line.productId, (requestedByProduct.get(line.productId) ?? 0) + line.quantity);
  }
  for (const [productId, units] of requestedByProduct) {
    const held = holds.unitsByProduct.get(productId) ?? 0;
    if (held + units > policy.unitsPerProductMax) {
      return {
        kind: 'units_per_product',
        productId,
        held,
        requested: units,
        limit: policy.unitsPerProductMax,
      };
    }
  }
  return undefined;
}
