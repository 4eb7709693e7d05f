export type { InventoryRecorder, ReservationOutcome, StockOperation } from './inventory.recorder.js';
export { reservationRoutes } from './reservation.routes.js';
export { type ReservationPolicy, ReservationService } from './reservation.service.js';
export { ReservationExpiryScheduler } from './reservation-expiry.scheduler.js';
export { stockRoutes } from './stock.routes.js';
export { availabilityCacheKeysOf, StockService } from './stock.service.js';
export { auditStockLedger, type LedgerAuditReport } from './stock-ledger.audit.js';
