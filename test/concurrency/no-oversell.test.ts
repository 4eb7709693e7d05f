import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type InstancesOnOneDatabase, startInstancesOnOneDatabase } from '../support/instances.js';
import { findInvariantViolations } from '../support/invariants.js';
import {
  describeOnEachDatabase,
  postgresAvailable,
  resetTenantData,
  type TestApp,
  type TestResponse,
} from '../support/test-app.js';

/**
 * Races real requests at one or a few stock levels and checks, afterwards, that no unit was sold
 * twice, lost or invented. On PGlite the requests queue on its one connection; on PostgreSQL the
 * pool of 20 runs them truly in parallel, which is where a missing row lock or a lock-order cycle
 * would show as oversell, a negative level or a deadlock (500).
 */

/** A small seeded generator, so a failing race can be replayed with the same requests. */
function seededRandom(seed: number): (maximum: number) => number {
  let state = seed >>> 0;
  return (maximum) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    const unit = ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
    return Math.floor(unit * maximum);
  };
}

function shuffled<T>(items: readonly T[], random: (maximum: number) => number): T[] {
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index -= 1) {
    const other = random(index + 1);
    [copy[index], copy[other]] = [copy[other] as T, copy[index] as T];
  }
  return copy;
}

function describeResponse(label: string, response: TestResponse): string {
  return `${label} → ${response.status} ${JSON.stringify(response.body)}`;
}

async function levelOf(app: TestApp, productId: string, storeId: string) {
  const response = await app.request('GET', `/api/v1/stock/${productId}/${storeId}`, { key: null });
  expect(response.status, describeResponse('read level', response)).toBe(200);
  return response.body as { quantity: number; reserved: number; available: number };
}

describeOnEachDatabase('concurrent stock writes never oversell', (harness) => {
  it('sells exactly the 50 units on hand to 200 concurrent single-unit reservations', async () => {
    const app = harness();
    const store = await app.createStore();
    const product = await app.createProduct();
    await app.stock(product.id, store, 50);

    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, index) =>
        app.request('POST', '/api/v1/reservations', {
          body: { product_id: product.id, store_id: store, quantity: 1, customer_id: `customer-${index}` },
        }),
      ),
    );

    const created = responses.filter((response) => response.status === 201);
    const refused = responses.filter((response) => response.status === 409);
    const other = responses.filter((response) => response.status !== 201 && response.status !== 409);
    expect(other.map((response) => describeResponse('reserve', response))).toEqual([]);
    expect(created).toHaveLength(50);
    expect(refused).toHaveLength(150);
    expect(new Set(created.map((response) => response.body.reservation_id)).size).toBe(50);
    for (const response of refused) {
      // Nothing releases stock here, so every refusal saw the level already fully reserved.
      expect(response.body).toMatchObject({ code: 'INSUFFICIENT_STOCK', requested: 1, available: 0 });
    }
    expect(await levelOf(app, product.id, store)).toMatchObject({ quantity: 50, reserved: 50, available: 0 });
    expect(await findInvariantViolations(app.db.schemaOwner())).toEqual([]);
  });

  it('moves stock both ways between two stores concurrently without deadlock, loss or a negative level', async () => {
    const app = harness();
    const storeA = await app.createStore('RACE-A');
    const storeB = await app.createStore('RACE-B');
    const product = await app.createProduct();
    await app.stock(product.id, storeA, 30);
    await app.stock(product.id, storeB, 30);
    // A hold in A: transfers may move only what is available, never what is reserved.
    const hold = await app.request('POST', '/api/v1/reservations', {
      body: { product_id: product.id, store_id: storeA, quantity: 5, customer_id: 'holder' },
    });
    expect(hold.status).toBe(201);

    const random = seededRandom(20_240_611);
    const transfers = Array.from({ length: 100 }, () => {
      const forward = random(2) === 0;
      return { from: forward ? storeA : storeB, to: forward ? storeB : storeA, quantity: 1 + random(6) };
    });
    const responses = await Promise.all(
      transfers.map((transfer) =>
        app.request('POST', '/api/v1/stock/transfer', {
          body: {
            product_id: product.id,
            from_store_id: transfer.from,
            to_store_id: transfer.to,
            quantity: transfer.quantity,
          },
        }),
      ),
    );

    let netIntoA = 0;
    responses.forEach((response, index) => {
      const transfer = transfers[index] as (typeof transfers)[number];
      const label = `transfer ${transfer.quantity} ${transfer.from}→${transfer.to}`;
      expect([200, 409], describeResponse(label, response)).toContain(response.status);
      if (response.status === 409) {
        expect(response.body.code, describeResponse(label, response)).toBe('INSUFFICIENT_STOCK');
        return;
      }
      netIntoA += transfer.from === storeA ? -transfer.quantity : transfer.quantity;
      expect(response.body.from.quantity).toBeGreaterThanOrEqual(response.body.from.reserved);
    });
    expect(responses.some((response) => response.status === 200)).toBe(true);

    const levelA = await levelOf(app, product.id, storeA);
    const levelB = await levelOf(app, product.id, storeB);
    expect(levelA).toMatchObject({ quantity: 30 + netIntoA, reserved: 5 });
    expect(levelB).toMatchObject({ quantity: 30 - netIntoA, reserved: 0 });
    expect(levelA.quantity + levelB.quantity).toBe(60);
    expect(levelA.available).toBeGreaterThanOrEqual(0);
    expect(levelB.available).toBeGreaterThanOrEqual(0);
    expect(await findInvariantViolations(app.db.schemaOwner())).toEqual([]);
  });

  it('creates the level of a store that had none exactly once when first transfers into it race', async () => {
    const app = harness();
    const source = await app.createStore('RACE-SRC');
    const target = await app.createStore('RACE-NEW');
    const product = await app.createProduct();
    await app.stock(product.id, source, 100);

    const quantities = Array.from({ length: 20 }, (_, index) => 1 + (index % 4));
    const responses = await Promise.all(
      quantities.map((quantity) =>
        app.request('POST', '/api/v1/stock/transfer', {
          body: { product_id: product.id, from_store_id: source, to_store_id: target, quantity },
        }),
      ),
    );
    for (const response of responses)
      expect(response.status, describeResponse('transfer', response)).toBe(200);

    const moved = quantities.reduce((sum, quantity) => sum + quantity, 0);
    expect(await levelOf(app, product.id, source)).toMatchObject({ quantity: 100 - moved, reserved: 0 });
    expect(await levelOf(app, product.id, target)).toMatchObject({ quantity: moved, reserved: 0 });
    const created = await app.db
      .schemaOwner()
      .query<{ count: number }>(
        `SELECT count(*)::int AS count FROM outbox_events WHERE event_type = 'stock.created' AND aggregate_id = $1`,
        [`${product.id}:${target}`],
      );
    expect(created.rows[0]?.count).toBe(1);
    expect(await findInvariantViolations(app.db.schemaOwner())).toEqual([]);
  });

  it('keeps on-hand = initial + adjustments − confirmed sales while adjustments, reservations, confirms and cancels race', async () => {
    const app = harness();
    const store = await app.createStore();
    const product = await app.createProduct();
    const initial = 60;
    await app.stock(product.id, store, initial);
    const reserve = (quantity: number, customer: string) =>
      app.request('POST', '/api/v1/reservations', {
        body: { product_id: product.id, store_id: store, quantity, customer_id: customer },
      });

    // 30 holds of 1 or 2 units (45 in all) to confirm, cancel, or race confirm against cancel.
    const holds = await Promise.all(
      Array.from({ length: 30 }, (_, index) => reserve(1 + (index % 2), `hold-${index}`)),
    );
    for (const hold of holds) expect(hold.status, describeResponse('hold', hold)).toBe(201);
    const held = holds.map((hold) => ({
      id: hold.body.reservation_id as string,
      quantity: hold.body.quantity as number,
    }));

    type Operation =
      | { kind: 'confirm' | 'cancel'; hold: number }
      | { kind: 'reserve'; quantity: number }
      | { kind: 'adjust'; reason: 'SALE' | 'RESTOCK'; change: number };
    const random = seededRandom(7_331);
    const operations: Operation[] = [
      ...Array.from({ length: 10 }, (_, hold): Operation => ({ kind: 'confirm', hold })),
      ...Array.from({ length: 8 }, (_, index): Operation => ({ kind: 'cancel', hold: 10 + index })),
      // Holds 18..25: a confirm and a cancel race for the same reservation; exactly one may win.
      ...Array.from({ length: 8 }, (_, index): Operation[] => [
        { kind: 'confirm', hold: 18 + index },
        { kind: 'cancel', hold: 18 + index },
      ]).flat(),
      ...Array.from({ length: 30 }, (): Operation => ({ kind: 'reserve', quantity: 1 + random(3) })),
      ...Array.from(
        { length: 25 },
        (): Operation => ({ kind: 'adjust', reason: 'SALE', change: -(1 + random(4)) }),
      ),
      ...Array.from(
        { length: 15 },
        (): Operation => ({ kind: 'adjust', reason: 'RESTOCK', change: 1 + random(6) }),
      ),
    ];
    const order = shuffled(operations, random);
    const responses = await Promise.all(
      order.map((operation, index) => {
        if (operation.kind === 'reserve') return reserve(operation.quantity, `racer-${index}`);
        if (operation.kind === 'adjust') {
          return app.request('POST', `/api/v1/stock/${product.id}/${store}/adjust`, {
            body: { quantity_change: operation.change, reason: operation.reason },
          });
        }
        return app.request('POST', `/api/v1/reservations/${held[operation.hold]?.id}/${operation.kind}`);
      }),
    );

    let adjusted = 0;
    let newlyReserved = 0;
    const outcome = new Map<number, { confirmed: boolean; cancelled: boolean }>();
    order.forEach((operation, index) => {
      const response = responses[index] as TestResponse;
      const label = describeResponse(JSON.stringify(operation), response);
      expect(response.status, label).toBeLessThan(500);
      expect(response.status === 409 || (response.status >= 200 && response.status < 300), label).toBe(true);
      switch (operation.kind) {
        case 'confirm':
        case 'cancel': {
          const seen = outcome.get(operation.hold) ?? { confirmed: false, cancelled: false };
          if (response.status === 200) {
            expect(response.body.status, label).toBe(
              operation.kind === 'confirm' ? 'CONFIRMED' : 'CANCELLED',
            );
            if (operation.kind === 'confirm') seen.confirmed = true;
            else seen.cancelled = true;
          } else {
            expect(response.body.code, label).toBe(
              operation.kind === 'confirm' ? 'RESERVATION_CANCELLED' : 'RESERVATION_CONFIRMED',
            );
          }
          outcome.set(operation.hold, seen);
          break;
        }
        case 'reserve':
          if (response.status === 201) newlyReserved += operation.quantity;
          else expect(response.body.code, label).toBe('INSUFFICIENT_STOCK');
          break;
        case 'adjust':
          if (response.status === 200) adjusted += operation.change;
          else {
            expect(operation.reason, label).toBe('SALE');
            expect(response.body.code, label).toBe('INSUFFICIENT_STOCK');
          }
          break;
      }
    });

    let confirmedUnits = 0;
    let stillHeld = 0;
    held.forEach((hold, index) => {
      const seen = outcome.get(index) ?? { confirmed: false, cancelled: false };
      expect(seen.confirmed && seen.cancelled, `hold ${index} was both confirmed and cancelled`).toBe(false);
      if (index < 10) expect(seen.confirmed, `hold ${index}`).toBe(true);
      else if (index < 18) expect(seen.cancelled, `hold ${index}`).toBe(true);
      else if (index < 26)
        expect(seen.confirmed || seen.cancelled, `hold ${index}: neither confirm nor cancel won`).toBe(true);
      if (seen.confirmed) confirmedUnits += hold.quantity;
      else if (!seen.cancelled) stillHeld += hold.quantity;
    });

    const level = await levelOf(app, product.id, store);
    expect(level.quantity).toBe(initial + adjusted - confirmedUnits);
    expect(level.reserved).toBe(stillHeld + newlyReserved);
    expect(level.available).toBeGreaterThanOrEqual(0);
    expect(await findInvariantViolations(app.db.schemaOwner())).toEqual([]);
  });

  it('reserves each concurrent basket over overlapping levels all or nothing, whatever its line order', async () => {
    const app = harness();
    const stores = [await app.createStore('BASKET-A'), await app.createStore('BASKET-B')];
    const products = [await app.createProduct(), await app.createProduct(), await app.createProduct()];
    const levels = products.flatMap((product) =>
      stores.map((store) => ({ product_id: product.id as string, store_id: store })),
    );
    for (const level of levels) await app.stock(level.product_id, level.store_id, 12);

    const random = seededRandom(424_242);
    const baskets = Array.from({ length: 60 }, () =>
      shuffled(levels, random)
        .slice(0, 2 + random(3))
        .map((level) => ({ ...level, quantity: 1 + random(3) })),
    );
    const responses = await Promise.all(
      baskets.map((items, index) =>
        app.request('POST', '/api/v1/reservations/batch', {
          body: { customer_id: `basket-${index}`, items },
        }),
      ),
    );

    const expectedReserved = new Map<string, number>(
      levels.map((level) => [`${level.product_id}:${level.store_id}`, 0]),
    );
    const createdBatches = new Map<string, number>();
    responses.forEach((response, index) => {
      const items = baskets[index] as (typeof baskets)[number];
      const label = describeResponse(`basket ${index}`, response);
      expect([201, 409], label).toContain(response.status);
      if (response.status === 409) {
        expect(response.body.code, label).toBe('INSUFFICIENT_STOCK');
        expect(response.body.lines.length, label).toBeGreaterThan(0);
        for (const line of response.body.lines) expect(line.available, label).toBeLessThan(line.requested);
        return;
      }
      expect(response.body.reservations, label).toHaveLength(items.length);
      items.forEach((item, line) => {
        expect(response.body.reservations[line], label).toMatchObject({
          ...item,
          status: 'PENDING',
          batch_id: response.body.batch_id,
        });
        const key = `${item.product_id}:${item.store_id}`;
        expectedReserved.set(key, (expectedReserved.get(key) ?? 0) + item.quantity);
      });
      createdBatches.set(response.body.batch_id, items.length);
    });
    expect(createdBatches.size).toBeGreaterThan(0);
    expect(responses.some((response) => response.status === 409)).toBe(true);

    // A refused basket left nothing behind: the only reservations are the accepted baskets' lines.
    const stored = await app.db
      .schemaOwner()
      .query<{ batch_id: string; lines: number }>(
        'SELECT batch_id::text AS batch_id, count(*)::int AS lines FROM reservations GROUP BY batch_id',
      );
    expect(new Map(stored.rows.map((row) => [row.batch_id, row.lines]))).toEqual(createdBatches);
    for (const level of levels) {
      expect(await levelOf(app, level.product_id, level.store_id)).toMatchObject({
        quantity: 12,
        reserved: expectedReserved.get(`${level.product_id}:${level.store_id}`),
      });
    }
    expect(await findInvariantViolations(app.db.schemaOwner())).toEqual([]);
  });
});

describe.skipIf(!postgresAvailable())('several app instances on one PostgreSQL database [postgres]', () => {
  const POOL_SIZE_PER_INSTANCE = 10;
  let started: InstancesOnOneDatabase | undefined;
  let instances: TestApp[] = [];

  beforeAll(async () => {
    started = await startInstancesOnOneDatabase(2, POOL_SIZE_PER_INSTANCE);
    instances = started.instances;
  });

  afterAll(async () => started?.close());

  beforeEach(async () => {
    await resetTenantData((instances[0] as TestApp).db);
  });

  it('sells exactly the stock when two instances race reservations and confirmations on one level', async () => {
    const [first, second] = instances as [TestApp, TestApp];
    const store = await first.createStore('MULTI-001');
    const product = await first.createProduct();
    await first.stock(product.id, store, 40);

    const responses = await Promise.all(
      Array.from({ length: 120 }, (_, index) =>
        (index % 2 === 0 ? first : second).request('POST', '/api/v1/reservations', {
          body: { product_id: product.id, store_id: store, quantity: 1, customer_id: `customer-${index}` },
        }),
      ),
    );
    const created = responses.filter((response) => response.status === 201);
    const refused = responses.filter((response) => response.status === 409);
    expect(
      responses
        .filter((response) => response.status !== 201 && response.status !== 409)
        .map((r) => describeResponse('reserve', r)),
    ).toEqual([]);
    expect(created).toHaveLength(40);
    expect(refused).toHaveLength(80);
    for (const response of refused)
      expect(response.body).toMatchObject({ code: 'INSUFFICIENT_STOCK', available: 0 });

    // Each reservation confirmed on both instances at once: sold once, however many times confirmed.
    const confirms = await Promise.all(
      created.flatMap((response) => [
        first.request('POST', `/api/v1/reservations/${response.body.reservation_id}/confirm`),
        second.request('POST', `/api/v1/reservations/${response.body.reservation_id}/confirm`),
      ]),
    );
    for (const confirm of confirms) {
      expect(confirm.status, describeResponse('confirm', confirm)).toBe(200);
      expect(confirm.body.status).toBe('CONFIRMED');
    }
    expect(await levelOf(second, product.id, store)).toMatchObject({
      quantity: 0,
      reserved: 0,
      available: 0,
    });
    const sold = await first.db
      .schemaOwner()
      .query<{ units: number }>(
        `SELECT COALESCE(-sum(quantity_change), 0)::int AS units FROM stock_movements WHERE reason = 'RESERVATION_CONFIRMED'`,
      );
    expect(sold.rows[0]?.units).toBe(40);
    expect(await findInvariantViolations(first.db.schemaOwner())).toEqual([]);
  });
});
