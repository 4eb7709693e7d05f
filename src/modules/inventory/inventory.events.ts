/** Events the inventory publishes; `type` values are part of the public contract (docs/events.md). */
export const InventoryEventTypes = {
  stockCreated: 'stock.created',
  stockUpdated: 'stock.updated',
  stockTransferred: 'stock.transferred',
  reservationCreated: 'reservation.created',
  reservationConfirmed: 'reservation.confirmed',
  reservationCancelled: 'reservation.cancelled',
  reservationExpired: 'reservation.expired',
} as const;

/** Every change of a stock level: before and after, so consumers need no read to apply it. */
export interface StockChangedData {
  product_id: string;
  store_id: string;
  previous_quantity: number;
  new_quantity: number;
  quantity_change: number;
  previous_reserved: number;
  new_reserved: number;
  available: number;
  reason: string;
  reference_id: string | null;
  /** The level's version after the change; consumers drop events older than what they applied. */
  version: number;
}

export interface StockTransferredData {
  transfer_id: string;
  product_id: string;
  from_store_id: string;
  to_store_id: string;
  quantity: number;
  reason: string;
  from_quantity_after: number;
  to_quantity_after: number;
}

export interface ReservationChangedData {
  reservation_id: string;
  product_id: string;
  store_id: string;
  customer_id: string;
  quantity: number;
  status: string;
  previous_status: string | null;
  expires_at: string;
  batch_id: string | null;
}
