import { expect, it } from 'vitest';
import { auditStockLedger } from '../../src/modules/inventory/index.js';
import { findInvariantViolations } from '../support/invariants.js';
import { describeOnEachDatabase } from '../support/test-app.js';

describeOnEachDatabase('stock ledger audit', (harness) => {
  it('reports no drift when the table agrees with the ledger and the reservations', async () => {
    const { db, createStore, createProduct, stock, request } = harness();
    const store = await createStore();
    const product = await createProduct();
    await stock(product.id, store, 10);
    await request('POST', '/api/v1/reservations', {
      body: { product_id: product.id, store_id: store, quantity: 2, customer_id: 'c' },
    });
    const report = await auditStockLedger(db, { repair: false });
    expect(report).toEqual({ levels_checked: 1, drifts: [], repaired: 0 });
  });

  it('finds levels changed behind the ledger, and repairs them from it when asked', async () => {
    const { db, createStore, createProduct, stock, request } = harness();
    const store = await createStore();
    const product = await createProduct();
    const healthy = await createProduct();
    await stock(product.id, store, 10);
    await stock(healthy.id, store, 4);
    await request('POST', '/api/v1/reservations', {
      body: { product_id: product.id, store_id: store, quantity: 3, customer_id: 'c' },
    });
    // A change that bypassed the service: no ledger row, no reservation.
    await db
      .schemaOwner()
      .query(
        'UPDATE stock_levels SET quantity = quantity + 5, reserved = reserved + 1 WHERE product_id = $1',
        [product.id],
      );
    const report = await auditStockLedger(db, { repair: false });
    expect(report.levels_checked).toBe(2);
    expect(report.drifts).toEqual([
      {
        tenant_id: 'default',
        product_id: product.id,
        store_id: store,
        quantity: 15,
        ledger_quantity: 10,
        reserved: 4,
        pending_reserved: 3,
      },
    ]);
    const repaired = await auditStockLedger(db, { repair: true });
    expect(repaired.repaired).toBe(1);
    expect(await findInvariantViolations(db.schemaOwner())).toEqual([]);
    const level = await request('GET', `/api/v1/stock/${product.id}/${store}`, { key: null });
    expect(level.body).toMatchObject({ quantity: 10, reserved: 3, available: 7 });
    const events = await db
      .schemaOwner()
      .query<{ envelope: any }>(
        `SELECT envelope FROM outbox_events WHERE event_type = 'stock.updated' ORDER BY position DESC LIMIT 1`,
      );
    expect(events.rows[0]?.envelope.data).toMatchObject({
      reason: 'LEDGER_REBUILD',
      previous_quantity: 15,
      new_quantity: 10,
      quantity_change: -5,
      previous_reserved: 4,
      new_reserved: 3,
    });
    expect((await auditStockLedger(db, { repair: false })).drifts).toEqual([]);
  });
});
