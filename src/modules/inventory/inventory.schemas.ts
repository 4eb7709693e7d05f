import Type, { type Static } from 'typebox';
import { ProductId, StoreId } from '../catalog/index.js';
import {
  ADJUSTMENT_REASONS,
  QUANTITY_CHANGE_MAX,
  QUANTITY_ON_HAND_MAX,
  SET_REASONS,
} from './stock.domain.js';

/** Quantities of one operation: positive, bounded far below int32. */
export const OPERATION_QUANTITY_MAX = 1_000_000;
export const BATCH_ITEMS_MAX = 50;
const CUSTOMER_ID_PATTERN = '^[A-Za-z0-9._:@-]{1,128}$';

export const LevelParams = Type.Object({ productId: ProductId, storeId: StoreId });

export const StockLevel = Type.Object({
  product_id: Type.String(),
  store_id: Type.String(),
  quantity: Type.Integer({ description: 'On hand' }),
  reserved: Type.Integer(),
  available: Type.Integer({ description: 'quantity - reserved' }),
  low_stock_threshold: Type.Integer(),
  version: Type.Integer(),
  updated_at: Type.String({ format: 'date-time' }),
});
export type StockLevel = Static<typeof StockLevel>;

export const StockInitialise = Type.Object(
  {
    product_id: ProductId,
    store_id: StoreId,
    quantity: Type.Integer({ minimum: 0, maximum: QUANTITY_ON_HAND_MAX }),
    low_stock_threshold: Type.Optional(Type.Integer({ minimum: 0, maximum: QUANTITY_ON_HAND_MAX })),
  },
  { additionalProperties: false },
);
export type StockInitialise = Static<typeof StockInitialise>;

export const StockSet = Type.Object(
  {
    quantity: Type.Integer({ minimum: 0, maximum: QUANTITY_ON_HAND_MAX }),
    reason: Type.Optional(Type.Union(SET_REASONS.map((reason) => Type.Literal(reason)))),
    low_stock_threshold: Type.Optional(Type.Integer({ minimum: 0, maximum: QUANTITY_ON_HAND_MAX })),
    user_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false },
);
export type StockSet = Static<typeof StockSet>;

export const StockAdjust = Type.Object(
  {
    quantity_change: Type.Integer({
      minimum: -QUANTITY_CHANGE_MAX,
      maximum: QUANTITY_CHANGE_MAX,
      not: { const: 0 },
    }),
    reason: Type.Union(ADJUSTMENT_REASONS.map((reason) => Type.Literal(reason))),
    user_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    note: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
export type StockAdjust = Static<typeof StockAdjust>;

export const StockTransfer = Type.Object(
  {
    product_id: ProductId,
    from_store_id: StoreId,
    to_store_id: StoreId,
    quantity: Type.Integer({ minimum: 1, maximum: OPERATION_QUANTITY_MAX }),
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    user_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false },
);
export type StockTransfer = Static<typeof StockTransfer>;

export const TransferResult = Type.Object({
  transfer_id: Type.String(),
  product_id: Type.String(),
  quantity: Type.Integer(),
  from: StockLevel,
  to: StockLevel,
});

export const ProductStock = Type.Object({
  product_id: Type.String(),
  total_quantity: Type.Integer(),
  total_reserved: Type.Integer(),
  total_available: Type.Integer(),
  levels: Type.Array(StockLevel),
});

export const LevelAvailability = Type.Object({
  product_id: Type.String(),
  store_id: Type.String(),
  requested: Type.Integer(),
  available: Type.Integer(),
  is_available: Type.Boolean(),
});

export const ProductAvailability = Type.Object({
  product_id: Type.String(),
  sku: Type.String(),
  name: Type.String(),
  total_available: Type.Integer(),
  stores: Type.Array(
    Type.Object({
      store_id: Type.String(),
      store_name: Type.String(),
      store_kind: Type.String(),
      available: Type.Integer(),
      reserved: Type.Integer(),
    }),
  ),
});
export type ProductAvailability = Static<typeof ProductAvailability>;

export const Movement = Type.Object({
  id: Type.String(),
  product_id: Type.String(),
  store_id: Type.String(),
  quantity_change: Type.Integer(),
  quantity_after: Type.Integer(),
  reason: Type.String(),
  actor: Type.String(),
  user_id: Type.Union([Type.String(), Type.Null()]),
  reference_id: Type.Union([Type.String(), Type.Null()]),
  correlation_id: Type.String(),
  note: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
});
export type Movement = Static<typeof Movement>;

const CustomerId = Type.String({ pattern: CUSTOMER_ID_PATTERN });

export const ReservationCreate = Type.Object(
  {
    product_id: ProductId,
    store_id: StoreId,
    quantity: Type.Integer({ minimum: 1, maximum: OPERATION_QUANTITY_MAX }),
    customer_id: CustomerId,
    ttl_seconds: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export type ReservationCreate = Static<typeof ReservationCreate>;

export const ReservationBatchCreate = Type.Object(
  {
    customer_id: CustomerId,
    ttl_seconds: Type.Optional(Type.Integer({ minimum: 1 })),
    items: Type.Array(
      Type.Object(
        {
          product_id: ProductId,
          store_id: StoreId,
          quantity: Type.Integer({ minimum: 1, maximum: OPERATION_QUANTITY_MAX }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: BATCH_ITEMS_MAX },
    ),
  },
  { additionalProperties: false },
);
export type ReservationBatchCreate = Static<typeof ReservationBatchCreate>;

export const ReservationStatus = Type.Union([
  Type.Literal('PENDING'),
  Type.Literal('CONFIRMED'),
  Type.Literal('CANCELLED'),
  Type.Literal('EXPIRED'),
]);

export const Reservation = Type.Object({
  reservation_id: Type.String(),
  product_id: Type.String(),
  store_id: Type.String(),
  customer_id: Type.String(),
  quantity: Type.Integer(),
  status: ReservationStatus,
  batch_id: Type.Union([Type.String(), Type.Null()]),
  expires_at: Type.String({ format: 'date-time' }),
  expires_in_seconds: Type.Integer(),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});
export type Reservation = Static<typeof Reservation>;

const StatusCount = Type.Object({ count: Type.Integer(), units: Type.Integer() });
export const ReservationStats = Type.Object({
  pending: StatusCount,
  confirmed: StatusCount,
  cancelled: StatusCount,
  expired: StatusCount,
  next_expiry_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
export type ReservationStats = Static<typeof ReservationStats>;
