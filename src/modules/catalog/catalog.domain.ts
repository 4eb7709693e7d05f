import { AppError } from '../../platform/http/problem.js';
import { CatalogErrors } from './catalog.errors.js';

const ISO_4217 = new Set(Intl.supportedValuesOf('currency'));

/** Prices are integer minor units of a real ISO 4217 currency; the pattern alone would let `XYZ` in. */
export function assertKnownCurrency(currency: string): void {
  if (!ISO_4217.has(currency)) {
    throw new AppError(CatalogErrors.unknownCurrency, `${currency} is not an ISO 4217 currency code`, {
      currency,
    });
  }
}
