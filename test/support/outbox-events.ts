import type { Database } from '../../src/platform/db/database.js';
import { appendToOutbox } from '../../src/platform/events/outbox.js';

/**
 * Commits `count` stock.updated events of `tenantId` in one transaction, as a stock write would,
 * one aggregate per event (`<prefix>-<index>`): outbox rows for the sequencer and the tails to take.
 */
export async function commitStockEvents(
  database: Database,
  count: number,
  tenantId: string,
  prefix = 'level',
): Promise<void> {
  await database.schemaOwner().transaction((tx) =>
    appendToOutbox(
      tx,
      Array.from({ length: count }, (_, index) => ({
        type: 'stock.updated',
        tenantId,
        aggregateType: 'stock_level',
        aggregateId: `${prefix}-${index}`,
        subject: `stock/${prefix}-${index}`,
        correlationId: tenantId,
        data: { index },
      })),
    ),
  );
}
