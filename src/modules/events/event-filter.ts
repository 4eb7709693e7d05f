import type { CloudEvent } from '../../platform/events/cloud-event.js';

/** Event types anyone may stream: the public storefront data (catalogue, stock levels). */
const PUBLIC_TYPE_PREFIXES = ['stock.', 'product.', 'store.'];

export interface EventFilter {
  tenantId: string;
  /** Exact types (`stock.updated`) or prefixes (`reservation.*`); empty means all. */
  types: readonly string[];
  storeId: string | undefined;
  productId: string | undefined;
  /** Anonymous callers see only public types. */
  publicOnly: boolean;
}

export function parseTypeList(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  return raw
    .split(',')
    .map((type) => type.trim())
    .filter((type) => type !== '');
}

function typeMatches(patterns: readonly string[], type: string): boolean {
  if (patterns.length === 0) return true;
  return patterns.some((pattern) =>
    pattern.endsWith('.*') ? type.startsWith(pattern.slice(0, -1)) : pattern === type,
  );
}

/** Whether an event passes a stream's filter: tenant first, always. */
export function matchesFilter(filter: EventFilter, tenantId: string, envelope: CloudEvent): boolean {
  if (tenantId !== filter.tenantId) return false;
  if (filter.publicOnly && !PUBLIC_TYPE_PREFIXES.some((prefix) => envelope.type.startsWith(prefix)))
    return false;
  if (!typeMatches(filter.types, envelope.type)) return false;
  const data = (envelope.data ?? {}) as Record<string, unknown>;
  if (filter.storeId !== undefined) {
    const stores = [data['store_id'], data['from_store_id'], data['to_store_id']];
    if (!stores.includes(filter.storeId)) return false;
  }
  if (filter.productId !== undefined && data['product_id'] !== filter.productId) return false;
  return true;
}
