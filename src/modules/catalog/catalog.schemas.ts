import Type, { type Static } from 'typebox';

export const STORE_ID_PATTERN = '^[A-Za-z0-9-]{3,50}$';
export const SKU_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
/** Prices up to ten billion major units: far beyond retail, far below 2^53. */
export const PRICE_MINOR_MAX = 1_000_000_000_000;

export const StoreId = Type.String({ pattern: STORE_ID_PATTERN, description: 'Store code, e.g. MAD-001' });
export const ProductId = Type.String({ format: 'uuid', description: 'Product id (UUIDv7)' });
export const Sku = Type.String({
  pattern: SKU_PATTERN,
  description: 'Stock keeping unit, unique per tenant',
});

export const StoreKind = Type.Union([
  Type.Literal('store'),
  Type.Literal('warehouse'),
  Type.Literal('online'),
]);

export const StoreCreate = Type.Object(
  {
    id: StoreId,
    name: Type.String({ minLength: 1, maxLength: 200 }),
    kind: Type.Optional(StoreKind),
  },
  { additionalProperties: false },
);
export type StoreCreate = Static<typeof StoreCreate>;

export const Store = Type.Object({
  id: Type.String(),
  name: Type.String(),
  kind: StoreKind,
  created_at: Type.String({ format: 'date-time' }),
});
export type Store = Static<typeof Store>;

const productFields = {
  sku: Sku,
  name: Type.String({ minLength: 1, maxLength: 200 }),
  description: Type.Optional(Type.String({ maxLength: 4000 })),
  category: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 100 }), Type.Null()])),
  price_minor: Type.Integer({
    minimum: 0,
    maximum: PRICE_MINOR_MAX,
    description: 'Price in minor units (cents)',
  }),
  currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' }),
};

export const ProductWrite = Type.Object(productFields, { additionalProperties: false });
export type ProductWrite = Static<typeof ProductWrite>;

export const Product = Type.Object({
  id: Type.String(),
  sku: Type.String(),
  name: Type.String(),
  description: Type.String(),
  category: Type.Union([Type.String(), Type.Null()]),
  price_minor: Type.Integer(),
  currency: Type.String(),
  version: Type.Integer(),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});
export type Product = Static<typeof Product>;
