import { AppError, defineError } from '../../platform/http/problem.js';
import type { HoldViolation } from './customer-holds.domain.js';

export const InventoryErrors = {
  stockLevelNotFound: defineError('STOCK_LEVEL_NOT_FOUND', 404, 'This product is not stocked in this store'),
  stockLevelExists: defineError(
    'STOCK_LEVEL_EXISTS',
    409,
    'Stock for this product and store is already initialised',
  ),
  insufficientStock: defineError('INSUFFICIENT_STOCK', 409, 'Not enough stock available'),
  quantityBelowReserved: defineError(
    'QUANTITY_BELOW_RESERVED',
    409,
    'On-hand cannot drop below what is reserved',
  ),
  quantityLimitExceeded: defineError('QUANTITY_LIMIT_EXCEEDED', 422, 'On-hand would exceed the maximum'),
  invalidAdjustment: defineError('INVALID_ADJUSTMENT', 422, 'The change does not fit its reason'),
  sameStoreTransfer: defineError('SAME_STORE_TRANSFER', 422, 'A transfer needs two different stores'),
  productHasReservedStock: defineError('PRODUCT_HAS_RESERVED_STOCK', 409, 'The product has reserved stock'),
  reservationNotFound: defineError('RESERVATION_NOT_FOUND', 404, 'Reservation not found'),
  reservationExpired: defineError('RESERVATION_EXPIRED', 409, 'The reservation has expired'),
  reservationCancelled: defineError('RESERVATION_CANCELLED', 409, 'The reservation was cancelled'),
  reservationConfirmed: defineError('RESERVATION_CONFIRMED', 409, 'The reservation is already confirmed'),
  ttlOutOfRange: defineError('TTL_OUT_OF_RANGE', 422, 'ttl_seconds is outside the allowed range'),
  customerUnitsLimit: defineError(
    'CUSTOMER_UNITS_LIMIT_EXCEEDED',
    409,
    'The customer would hold more units of this product than allowed',
  ),
  customerOpenReservationsLimit: defineError(
    'CUSTOMER_OPEN_RESERVATIONS_LIMIT_EXCEEDED',
    409,
    'The customer would hold more open reservations than allowed',
  ),
} as const;

export function stockLevelNotFound(productId: string, storeId: string): AppError {
  return new AppError(
    InventoryErrors.stockLevelNotFound,
    `Product ${productId} has no stock level in store ${storeId}`,
    { product_id: productId, store_id: storeId },
  );
}

export function insufficientStock(
  productId: string,
  storeId: string,
  requested: number,
  available: number,
): AppError {
  return new AppError(
    InventoryErrors.insufficientStock,
    `Requested ${requested} of product ${productId} in store ${storeId}; ${available} available`,
    { product_id: productId, store_id: storeId, requested, available },
  );
}

export function reservationNotFound(reservationId: string): AppError {
  return new AppError(InventoryErrors.reservationNotFound, `Reservation ${reservationId} does not exist`, {
    reservation_id: reservationId,
  });
}

export function customerHoldLimitExceeded(violation: HoldViolation): AppError {
  if (violation.kind === 'open_reservations') {
    return new AppError(
      InventoryErrors.customerOpenReservationsLimit,
      `The customer holds ${violation.held} open reservations; ${violation.requested} more would pass the limit of ${violation.limit}`,
      { held: violation.held, requested: violation.requested, limit: violation.limit },
    );
  }
  return new AppError(
    InventoryErrors.customerUnitsLimit,
    `The customer holds ${violation.held} units of product ${violation.productId}; ${violation.requested} more would pass the limit of ${violation.limit}`,
    {
      product_id: violation.productId,
      held: violation.held,
      requested: violation.requested,
      limit: violation.limit,
    },
  );
}
