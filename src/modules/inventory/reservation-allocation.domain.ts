import { type CustomerHoldPolicy, type HoldViolation, holdViolationOf } from './customer-holds.domain.js';

/**
 * How a batch of single-line reservations, coalesced from concurrent requests, is shared out: pure
 * rules, no I/O. Each request is decided on its own, in arrival order, exactly as if it had run
 * alone after the ones before it — caps first, then stock — so batching changes how many
 * statements run, never who gets stock.
 */
export interface RequestedReservation {
  productId: string;
  storeId: string;
  customerId: string;
  quantity: number;
}

/** What a customer holds now, per product, and how many open reservations. */
export interface HeldByCustomer {
  unitsByProduct: Map<string, number>;
  openCount: number;
}

export type Allocation =
  | { kind: 'reserved' }
  | { kind: 'hold-limit'; violation: HoldViolation }
  | { kind: 'level-not-found' }
  | { kind: 'insufficient'; available: number };

export interface BatchAllocation {
  /** One per request, in the requests' order. */
  allocations: Allocation[];
  /** Units to reserve per level key (see levelKeyOf); only levels with at least one reservation. */
  unitsByLevel: Map<string, number>;
}

/** Product ids are UUIDs, so the colon cannot be part of one: the key is unambiguous. */
export function levelKeyOf(level: { productId: string; storeId: string }): string {
  return `${level.productId}:${level.storeId}`;
}

/** Every level a batch touches, once each, in arrival order of its first request. */
export function levelsOf(requests: readonly RequestedReservation[]): RequestedReservation[] {
  const seen = new Map<string, RequestedReservation>();
  for (const request of requests) {
    const key = levelKeyOf(request);
    if (!seen.has(key)) seen.set(key, request);
  }
  return [...seen.values()];
}

/**
 * Decides every request. `availableByLevel` maps a level key to what can still be sold there (0
 * when not sellable), and lacks levels that do not exist; `Infinity` asks "if stock were no limit",
 * the optimistic first pass whose totals one conditional UPDATE then tries. `held` is read before
 * and updated as requests are granted, so two requests of one customer in a batch add up.
 */
export function allocateReservations(
  requests: readonly RequestedReservation[],
  availableByLevel: ReadonlyMap<string, number>,
  held: ReadonlyMap<string, HeldByCustomer>,
  policy: CustomerHoldPolicy,
): BatchAllocation {
  const holds = new Map(
    [...held].map(([customerId, holding]) => [
      customerId,
      { unitsByProduct: new Map(holding.unitsByProduct), openCount: holding.openCount },
    ]),
  );
  const available = new Map(availableByLevel);
  const unitsByLevel = new Map<string, number>();
  const allocations = requests.map((request): Allocation => {
    const holding = holds.get(request.customerId) ?? { unitsByProduct: new Map(), openCount: 0 };
    const violation = holdViolationOf(holding, [request], policy);
    if (violation !== undefined) return { kind: 'hold-limit', violation };
    const key = levelKeyOf(request);
    const left = available.get(key);
    if (left === undefined) return { kind: 'level-not-found' };
    if (left < request.quantity) return { kind: 'insufficient', available: left };
    available.set(key, left - request.quantity);
    unitsByLevel.set(key, (unitsByLevel.get(key) ?? 0) + request.quantity);
    holding.unitsByProduct.set(
      request.productId,
      (holding.unitsByProduct.get(request.productId) ?? 0) + request.quantity,
    );
    holding.openCount += 1;
    holds.set(request.customerId, holding);
    return { kind: 'reserved' };
  });
  return { allocations, unitsByLevel };
}
