import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  lockCustomersAndReadHolds,
  pendingReservationsInsert,
} from '../../src/modules/inventory/reservation.repository.js';
import type { Transaction } from '../../src/platform/db/database.js';
import { appendToOutbox } from '../../src/platform/events/outbox.js';
import { newId } from '../../src/platform/ids.js';
import { type InstancesOnOneDatabase, startInstancesOnOneDatabase } from '../support/instances.js';
import { describeOnEachDatabase, postgresAvailable, type TestApp } from '../support/test-app.js';

const TENANT = 'default';
const POOL_SIZE = 4;

/**
 * The statements a reservation transaction is made of, on each database: what they store is what
 * the service answers without reading it back, and the customer lock holds the caps across
 * transactions that wait for each other.
 */
async function stockedLevel(app: TestApp, storeId: string) {
  const store = await app.createStore(storeId);
  const product = await app.createProduct();
  await app.stock(product.id, store, 10);
  return { productId: product.id as string, storeId: store };
}

/** One PENDING reservation of 2 units for 90 s, written the way the service writes it. */
async function reserve(tx: Transaction, at: { productId: string; storeId: string }, customerId: string) {
  const inserted = pendingReservationsInsert(TENANT, await tx.startedAt(), [
    { id: newId(), ...at, customerId, quantity: 2, ttlSeconds: 90, batchId: null },
  ]);
  return { inserted, written: appendToOutbox(tx, [], [inserted.statement]) };
}

describeOnEachDatabase('reservation statements', (harness) => {
  it("knows the transaction's now() from BEGIN, and stores the rows it says it stores", async () => {
    const at = await stockedLevel(harness(), 'STMT-CLOCK');
    const { row, now } = await harness()
      .db.forTenant(TENANT)
      .transaction(async (tx) => {
        const { inserted, written } = await reserve(tx, at, 'clock-customer');
        await written;
        const clock = await tx.query<{ now: Date }>('SELECT now() AS now');
        return { row: inserted.rows[0], now: clock.rows[0]?.now };
      });
    expect(now).toEqual(row?.created_at);
    const stored = await harness()
      .db.forTenant(TENANT)
      .query<{ created_at: Date; updated_at: Date; expires_at: Date; status: string }>(
        'SELECT created_at, updated_at, expires_at, status FROM reservations WHERE tenant_id = $1 AND id = $2',
        [TENANT, row?.id],
      );
    expect(stored.rows[0]).toEqual({
      created_at: row?.created_at,
      updated_at: row?.updated_at,
      expires_at: row?.expires_at,
      status: 'PENDING',
    });
    expect((row?.expires_at.getTime() ?? 0) - (row?.created_at.getTime() ?? 0)).toBe(90_000);
  });
});

/** Two transactions waiting for each other need two connections: PostgreSQL only. */
describe.skipIf(!postgresAvailable())('customer locks of reservations [postgres]', () => {
  let started: InstancesOnOneDatabase | undefined;
  beforeAll(async () => {
    started = await startInstancesOnOneDatabase(1, POOL_SIZE);
  });
  afterAll(async () => started?.close());

  it("reads a customer's holds after waiting for the customer's lock, with what its holder committed", async () => {
    const app = started?.instances[0] as TestApp;
    const at = await stockedLevel(app, 'STMT-LOCK');
    const db = app.db.forTenant(TENANT);
    let releaseFirst: () => void = () => {};
    const firstMayCommit = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    let firstLocked: () => void = () => {};
    const firstHasLock = new Promise<void>((resolve) => {
      firstLocked = resolve;
    });
    const first = db.transaction(async (tx) => {
      const holds = await lockCustomersAndReadHolds(tx, TENANT, ['lock-customer']);
      await (await reserve(tx, at, 'lock-customer')).written;
      firstLocked();
      await firstMayCommit;
      return holds;
    });
    await firstHasLock;
    const second = db.transaction((tx) => lockCustomersAndReadHolds(tx, TENANT, ['lock-customer']));
    // The second waits on the lock: it has not answered while the first holds it.
    const early = await Promise.race([second.then(() => 'answered'), sleep(200).then(() => 'waiting')]);
    expect(early).toBe('waiting');
    releaseFirst();
    expect(await first).toEqual([]);
    expect(await second).toEqual([
      { customer_id: 'lock-customer', product_id: at.productId, reservations: 1, units: 2 },
    ]);
  });
});
