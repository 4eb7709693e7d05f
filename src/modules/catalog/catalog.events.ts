/** Events the catalog publishes; `type` values are part of the public contract (docs/events.md). */
export const CatalogEventTypes = {
  storeCreated: 'store.created',
  productCreated: 'product.created',
  productUpdated: 'product.updated',
  productDeleted: 'product.deleted',
} as const;

export interface ProductSnapshot {
  id: string;
  sku: string;
  name: string;
  category: string | null;
  price_minor: number;
  currency: string;
  version: number;
}

export interface ProductChangedData {
  product_id: string;
  previous: ProductSnapshot | null;
  current: ProductSnapshot | null;
  version: number;
}

export interface StoreCreatedData {
  store_id: string;
  name: string;
  kind: string;
}
