import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type InstancesOnOneDatabase, startInstancesOnOneDatabase } from '../support/instances.js';
import { findInvariantViolations } from '../support/invariants.js';
import { postgresAvailable, resetTenantData, type TestApp, type TestResponse } from '../support/test-app.js';

/**
 * The coalesced reservation path under real concurrency: three service instances, each with its
 * own pool, on one PostgreSQL database. Each instance batches the requests that pile up behind the
 * transaction it has running; the instances' batches meet only in the database. Whatever the
 * batching, every request must be answered as if it had run alone: no oversell, exact accounting,
 * caps per customer, its own refusal, its own correlation id on its events.
 */
const INSTANCES = 3;
const POOL_SIZE_PER_INSTANCE = 8;
const UNITS_PER_PRODUCT_MAX = 5;

function describeResponse(label: string, response: TestResponse): string {
  return `${label} → ${response.status} ${JSON.stringify(response.body)}`;
}

describe.skipIf(!postgresAvailable())('coalesced reservations on several instances [postgres]', () => {
  let started: InstancesOnOneDatabase | undefined;
  let instances: TestApp[] = [];

  beforeAll(async () => {
    started = await startInstancesOnOneDatabase(INSTANCES, POOL_SIZE_PER_INSTANCE, {
      reservationCustomerUnitsPerProductMax: UNITS_PER_PRODUCT_MAX,
    });
    instances = started.instances;
  }, 60_000);

  afterAll(async () => started?.close());

  beforeEach(async () => {
    await resetTenantData((instances[0] as TestApp).db);
  });

  const instance = (index: number) => instances[index % INSTANCES] as TestApp;
  const owner = () => (instances[0] as TestApp).db.schemaOwner();

  async function levelRow(productId: string, storeId: string) {
    const result = await owner().query<{ quantity: number; reserved: number }>(
      'SELECT quantity, reserved FROM stock_levels WHERE product_id = $1 AND store_id = $2',
      [productId, storeId],
    );
    return result.rows[0];
  }

  it('shares out mixed quantities over several levels exactly, in batches, from every instance', async () => {
    const first = instance(0);
    const stores = [await first.createStore('COAL-A'), await first.createStore('COAL-B')];
    const products = [await first.createProduct(), await first.createProduct()];
    const levels = products.flatMap((product) =>
      stores.map((store) => ({ productId: product.id as string, storeId: store })),
    );
    const stock = [37, 11, 23, 5];
    for (const [index, level] of levels.entries())
      await first.stock(level.productId, level.storeId, stock[index] as number);

    // The hot level (index 0) gets half of the requests; quantities 1–3 so refusals leave remainders.
    const requests = Array.from({ length: 240 }, (_, index) => {
      const level = levels[index % 2 === 0 ? 0 : 1 + (index % 3)] as (typeof levels)[number];
      return { ...level, quantity: 1 + (index % 3), customerId: `shopper-${index}` };
    });
    const responses = await Promise.all(
      requests.map((request, index) =>
        instance(index).request('POST', '/api/v1/reservations', {
          body: {
            product_id: request.productId,
            store_id: request.storeId,
            quantity: request.quantity,
            customer_id: request.customerId,
          },
          headers: { 'x-correlation-id': `coalesced-${index}` },
        }),
      ),
    );

    const grantedByLevel = new Map<string, number>();
    const smallestRefusedByLevel = new Map<string, number>();
    responses.forEach((response, index) => {
      const request = requests[index] as (typeof requests)[number];
      const key = `${request.productId}:${request.storeId}`;
      const label = describeResponse(`reserve ${request.quantity} of ${key}`, response);
      expect([201, 409], label).toContain(response.status);
      if (response.status === 201) {
        expect(response.body, label).toMatchObject({
          product_id: request.productId,
          store_id: request.storeId,
          quantity: request.quantity,
          customer_id: request.customerId,
          status: 'PENDING',
        });
        grantedByLevel.set(key, (grantedByLevel.get(key) ?? 0) + request.quantity);
        return;
      }
      // Refused for stock only, and told what was left when its turn came: less than it asked.
      expect(response.body, label).toMatchObject({ code: 'INSUFFICIENT_STOCK', requested: request.quantity });
      expect(response.body.available, label).toBeLessThan(request.quantity);
      smallestRefusedByLevel.set(key, Math.min(smallestRefusedByLevel.get(key) ?? 3, request.quantity));
    });

    for (const [index, level] of levels.entries()) {
      const key = `${level.productId}:${level.storeId}`;
      const granted = grantedByLevel.get(key) ?? 0;
      const row = await levelRow(level.productId, level.storeId);
      expect(row, key).toEqual({ quantity: stock[index], reserved: granted });
      // Nothing gave stock back: once a request was refused, what was left stayed below it.
      const smallestRefused = smallestRefusedByLevel.get(key);
      if (smallestRefused !== undefined)
        expect((stock[index] as number) - granted, key).toBeLessThan(smallestRefused);
    }
    const pending = await owner().query<{ units: number; count: number }>(
      `SELECT COALESCE(sum(quantity), 0)::int AS units, count(*)::int AS count FROM reservations WHERE status = 'PENDING'`,
    );
    const created = responses.filter((response) => response.status === 201);
    expect(pending.rows[0]).toEqual({
      units: [...grantedByLevel.values()].reduce((sum, units) => sum + units, 0),
      count: created.length,
    });

    // One reservation.created per reservation, each carrying its own request's correlation id;
    // the level's stock.updated events are fewer than the reservations: they were batched.
    const events = await owner().query<{ type: string; correlation: string; reservation: string | null }>(
      `SELECT event_type AS type, envelope->>'correlationid' AS correlation,
              envelope->'data'->>'reservation_id' AS reservation
         FROM outbox_events WHERE event_type IN ('reservation.created', 'stock.updated')
          AND envelope->'data'->>'reason' IS DISTINCT FROM 'INITIAL'`,
    );
    const createdEvents = events.rows.filter((event) => event.type === 'reservation.created');
    expect(new Map(createdEvents.map((event) => [event.reservation, event.correlation]))).toEqual(
      new Map(
        responses.flatMap((response, index) =>
          response.status === 201 ? [[response.body.reservation_id, `coalesced-${index}`]] : [],
        ),
      ),
    );
    const reservedUpdates = await owner().query<{ count: number }>(
      `SELECT count(*)::int AS count FROM outbox_events
        WHERE event_type = 'stock.updated' AND envelope->'data'->>'reason' = 'RESERVED'`,
    );
    expect(reservedUpdates.rows[0]?.count).toBeGreaterThan(0);
    expect(reservedUpdates.rows[0]?.count).toBeLessThan(created.length);
    expect(await findInvariantViolations(owner())).toEqual([]);
  });

  it("holds one customer's concurrent requests to the cap even when they share a batch", async () => {
    const first = instance(0);
    const store = await first.createStore('COAL-CAP');
    const product = await first.createProduct();
    await first.stock(product.id, store, 100);

    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, index) =>
        instance(index).request('POST', '/api/v1/reservations', {
          body: { product_id: product.id, store_id: store, quantity: 1, customer_id: 'greedy' },
        }),
      ),
    );
    const granted = responses.filter((response) => response.status === 201);
    const capped = responses.filter((response) => response.status !== 201);
    expect(granted).toHaveLength(UNITS_PER_PRODUCT_MAX);
    for (const response of capped)
      expect(response.body.code, describeResponse('capped', response)).toBe('CUSTOMER_UNITS_LIMIT_EXCEEDED');
    expect(await levelRow(product.id, store)).toEqual({ quantity: 100, reserved: UNITS_PER_PRODUCT_MAX });

    // At the cap already: a batch takes the stock for all of them, then gives every unit back.
    const overCap = await Promise.all(
      Array.from({ length: 12 }, () =>
        instance(0).request('POST', '/api/v1/reservations', {
          body: { product_id: product.id, store_id: store, quantity: 1, customer_id: 'greedy' },
        }),
      ),
    );
    for (const response of overCap)
      expect(response.body.code, describeResponse('over the cap', response)).toBe(
        'CUSTOMER_UNITS_LIMIT_EXCEEDED',
      );
    expect(await levelRow(product.id, store)).toEqual({ quantity: 100, reserved: UNITS_PER_PRODUCT_MAX });
    expect(await findInvariantViolations(owner())).toEqual([]);
  });

  it('answers a request for a level that does not exist 404 without failing its batch', async () => {
    const first = instance(0);
    const store = await first.createStore('COAL-404');
    const product = await first.createProduct();
    const unstocked = await first.createProduct();
    await first.stock(product.id, store, 10);

    const responses = await Promise.all(
      Array.from({ length: 12 }, (_, index) =>
        first.request('POST', '/api/v1/reservations', {
          body: {
            product_id: index % 4 === 0 ? unstocked.id : product.id,
            store_id: store,
            quantity: 1,
            customer_id: `mixed-${index}`,
          },
        }),
      ),
    );
    responses.forEach((response, index) => {
      const label = describeResponse(`request ${index}`, response);
      if (index % 4 === 0) expect(response.body.code, label).toBe('STOCK_LEVEL_NOT_FOUND');
      else expect(response.status, label).toBe(201);
    });
    expect(await levelRow(product.id, store)).toEqual({ quantity: 10, reserved: 9 });
  });

  it('retries each request of a batch the database rolled back alone, so only the failing one fails', async () => {
    const first = instance(0);
    const store = await first.createStore('COAL-ROLLBACK');
    const product = await first.createProduct();
    await first.stock(product.id, store, 100);
    // A database-side failure of one row: it rolls back whatever statement carries it. The sequence
    // (outside any transaction, so kept through the rollback) records the largest insert it was in.
    await owner().query('CREATE SEQUENCE refused_largest_insert MINVALUE 0 START 0');
    await owner().query(`
      CREATE FUNCTION refuse_poisoned_reservations() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM inserted WHERE customer_id = 'poisoned') THEN
          PERFORM setval('refused_largest_insert',
                         greatest((SELECT count(*) FROM inserted), (SELECT last_value FROM refused_largest_insert)));
          RAISE EXCEPTION 'refused by the database';
        END IF;
        RETURN NULL;
      END $$`);
    await owner().query(`
      CREATE TRIGGER refuse_poisoned_reservations AFTER INSERT ON reservations
        REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION refuse_poisoned_reservations()`);
    try {
      let granted = 0;
      let largestInsert = 0;
      // Each round: one request opens a batch, the others pile up behind it and share the next one.
      for (let round = 0; round < 3 && largestInsert < 2; round += 1) {
        const reserve = (customer: string) =>
          first.request('POST', '/api/v1/reservations', {
            body: { product_id: product.id, store_id: store, quantity: 1, customer_id: customer },
          });
        const responses = await Promise.all(
          Array.from({ length: 16 }, (_, index) =>
            reserve(index === 8 ? 'poisoned' : `rollback-${round}-${index}`),
          ),
        );
        responses.forEach((response, index) => {
          const label = describeResponse(`request ${index}`, response);
          if (index === 8) expect(response.status, label).toBeGreaterThanOrEqual(500);
          else expect(response.status, label).toBe(201);
        });
        granted += 15;
        const largest = await owner().query<{ last_value: string }>(
          'SELECT last_value FROM refused_largest_insert',
        );
        largestInsert = Number(largest.rows[0]?.last_value);
      }
      // The poisoned request did share a batch that was rolled back, and its neighbours got through.
      expect(largestInsert).toBeGreaterThan(1);
      expect(await levelRow(product.id, store)).toEqual({ quantity: 100, reserved: granted });
    } finally {
      await owner().query('DROP TRIGGER refuse_poisoned_reservations ON reservations');
      await owner().query('DROP FUNCTION refuse_poisoned_reservations()');
      await owner().query('DROP SEQUENCE refused_largest_insert');
    }
  });
});
