import { AppError, defineError } from '../../platform/http/problem.js';

export const CatalogErrors = {
  storeNotFound: defineError('STORE_NOT_FOUND', 404, 'Store not found'),
  storeAlreadyExists: defineError('STORE_ALREADY_EXISTS', 409, 'A store with this id already exists'),
  productNotFound: defineError('PRODUCT_NOT_FOUND', 404, 'Product not found'),
  skuAlreadyExists: defineError('SKU_ALREADY_EXISTS', 409, 'A product with this SKU already exists'),
  unknownCurrency: defineError('UNKNOWN_CURRENCY', 422, 'Not an ISO 4217 currency'),
} as const;

export function storeNotFound(storeId: string): AppError {
  return new AppError(CatalogErrors.storeNotFound, `Store ${storeId} does not exist`, { store_id: storeId });
}

export function productNotFound(productId: string): AppError {
  return new AppError(CatalogErrors.productNotFound, `Product ${productId} does not exist`, {
    product_id: productId,
  });
}
