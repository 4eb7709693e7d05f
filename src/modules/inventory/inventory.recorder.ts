/**
 * What the inventory module reports for metrics, without knowing how they are kept (app.ts adapts
 * it to Prometheus). `storeId` values are bounded by each tenant's stores.
 */
export interface InventoryRecorder {
  /** `outcome`: `ok` or the error code (see platform/observability/outcome.ts). */
  stockOperation(operation: StockOperation, storeId: string, outcome: string): void;
  reservations(outcome: ReservationOutcome, count: number): void;
}

export type StockOperation = 'initialise' | 'set' | 'adjust' | 'transfer';
export type ReservationOutcome = 'created' | 'rejected' | 'confirmed' | 'cancelled' | 'expired';

export const NOT_RECORDED: InventoryRecorder = {
  stockOperation() {},
  reservations() {},
};
