import fc from 'fast-check';
import { expect, it } from 'vitest';
import { findInvariantViolations } from '../support/invariants.js';
import {
  describeOnEachDatabase,
  resetTenantData,
  type TestApp,
  type TestResponse,
} from '../support/test-app.js';

/**
 * Random sequences of stock operations against the HTTP API, one at a time, beside a model of
 * what each level should hold. After every step: no 5xx, the status the model predicts, and the
 * SQL invariants (0 ≤ reserved ≤ on-hand, reserved = Σ pending, on-hand = Σ ledger). After every
 * sequence: every level and every reservation as the model says.
 */

const STORES = ['PROP-A', 'PROP-B', 'PROP-C'] as const;
const PRODUCTS = 2;
const ADJUSTMENT_SIGN = { RESTOCK: 1, RETURN: 1, SALE: -1, DAMAGE: -1, LOSS: -1, CORRECTION: 0 } as const;
type AdjustmentReason = keyof typeof ADJUSTMENT_SIGN;
const UNKNOWN_RESERVATION = '00000000-0000-4000-8000-000000000000';

type LevelPick = { product: number; store: number };
type Operation =
  | ({ kind: 'initialise'; quantity: number } & LevelPick)
  | ({ kind: 'adjust'; reason: AdjustmentReason; change: number } & LevelPick)
  | ({ kind: 'set'; quantity: number; stale: boolean } & LevelPick)
  | ({ kind: 'reserve'; quantity: number } & LevelPick)
  | { kind: 'batch'; lines: (LevelPick & { quantity: number })[] }
  | { kind: 'confirm' | 'cancel'; pick: number }
  | { kind: 'transfer'; product: number; from: number; to: number; quantity: number };

const product = fc.integer({ min: 0, max: PRODUCTS - 1 });
// The third store starts without stock: it is picked less, mostly to be created by a transfer or to 404.
const store = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 1 }) },
  { weight: 1, arbitrary: fc.constant(2) },
);
const operation: fc.Arbitrary<Operation> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('initialise' as const),
      product,
      store,
      quantity: fc.integer({ min: 0, max: 20 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({
        product,
        store,
        reason: fc.constantFrom(...(Object.keys(ADJUSTMENT_SIGN) as AdjustmentReason[])),
        magnitude: fc.integer({ min: 1, max: 10 }),
        // Mostly the sign the reason asks for; now and then the wrong one, which must be refused.
        flip: fc.integer({ min: 0, max: 7 }).map((draw) => draw === 0),
        negative: fc.boolean(),
      })
      .map(({ product, store, reason, magnitude, flip, negative }): Operation => {
        const sign = ADJUSTMENT_SIGN[reason] === 0 ? (negative ? -1 : 1) : ADJUSTMENT_SIGN[reason];
        return { kind: 'adjust', product, store, reason, change: (flip ? -sign : sign) * magnitude };
      }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      product,
      store,
      quantity: fc.integer({ min: 0, max: 25 }),
      stale: fc.integer({ min: 0, max: 3 }).map((draw) => draw === 0),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('reserve' as const),
      product,
      store,
      quantity: fc.integer({ min: 1, max: 8 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('batch' as const),
      lines: fc.array(fc.record({ product, store, quantity: fc.integer({ min: 1, max: 6 }) }), {
        minLength: 1,
        maxLength: 3,
      }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constantFrom('confirm' as const, 'cancel' as const),
      pick: fc.nat({ max: 50 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({
        product,
        from: store,
        step: fc.integer({ min: 0, max: 9 }),
        quantity: fc.integer({ min: 1, max: 10 }),
      })
      // Now and then from = to, which must be refused; otherwise one of the two other stores.
      .map(
        ({ product, from, step, quantity }): Operation => ({
          kind: 'transfer',
          product,
          from,
          to: step === 0 ? from : (from + 1 + (step % 2)) % STORES.length,
          quantity,
        }),
      ),
  },
);
/** Opening stock of each product in the first two stores (undefined: not stocked); the third starts empty. */
const openingStock = fc.array(fc.option(fc.integer({ min: 0, max: 15 }), { nil: undefined }), {
  minLength: PRODUCTS * 2,
  maxLength: PRODUCTS * 2,
});

interface ModelLevel {
  quantity: number;
  reserved: number;
}
interface ModelReservation {
  id: string;
  key: string;
  quantity: number;
  status: 'PENDING' | 'CONFIRMED' | 'CANCELLED';
}

/** What the service should hold, and what it should answer next. */
class Model {
  readonly levels = new Map<string, ModelLevel>();
  readonly reservations: ModelReservation[] = [];

  available(key: string): number | undefined {
    const level = this.levels.get(key);
    return level === undefined ? undefined : level.quantity - level.reserved;
  }

  level(key: string): ModelLevel {
    const level = this.levels.get(key);
    if (level === undefined) throw new Error(`the model has no level ${key}`);
    return level;
  }
}

function signProblem(reason: AdjustmentReason, change: number): boolean {
  const sign = ADJUSTMENT_SIGN[reason];
  return sign !== 0 && Math.sign(change) !== sign;
}

async function runSequence(
  app: TestApp,
  opening: readonly (number | undefined)[],
  operations: readonly Operation[],
): Promise<void> {
  await resetTenantData(app.db);
  for (const id of STORES) await app.createStore(id);
  const productIds: string[] = [];
  for (let index = 0; index < PRODUCTS; index += 1)
    productIds.push((await app.createProduct({ sku: `PROP-${index}` })).id);
  const keyOf = (pick: LevelPick) => `${productIds[pick.product]}/${STORES[pick.store]}`;
  const model = new Model();
  for (const [index, quantity] of opening.entries()) {
    if (quantity === undefined) continue;
    const pick = { product: index % PRODUCTS, store: Math.floor(index / PRODUCTS) };
    await app.stock(productIds[pick.product] as string, STORES[pick.store] as string, quantity);
    model.levels.set(keyOf(pick), { quantity, reserved: 0 });
  }

  for (const [step, op] of operations.entries()) {
    const { response, expected, code } = await apply(app, model, op, productIds, keyOf);
    const label = `step ${step} ${JSON.stringify(op)} → ${response.status} ${JSON.stringify(response.body)}`;
    expect(response.status, label).toBeLessThan(500);
    expect(response.status, label).toBe(expected);
    if (code !== undefined) expect(response.body.code, label).toBe(code);
    expect(await findInvariantViolations(app.db.schemaOwner()), label).toEqual([]);
  }

  for (let productIndex = 0; productIndex < PRODUCTS; productIndex += 1) {
    for (let storeIndex = 0; storeIndex < STORES.length; storeIndex += 1) {
      const key = keyOf({ product: productIndex, store: storeIndex });
      const response = await app.request('GET', `/api/v1/stock/${key}`, { key: null });
      const level = model.levels.get(key);
      if (level === undefined) {
        expect(response.status, `level ${key} should not exist`).toBe(404);
      } else {
        expect(response.body, `level ${key}`).toMatchObject({
          ...level,
          available: level.quantity - level.reserved,
        });
      }
    }
  }
  for (const reservation of model.reservations) {
    const response = await app.request('GET', `/api/v1/reservations/${reservation.id}`);
    expect(response.body, `reservation ${reservation.id}`).toMatchObject({
      quantity: reservation.quantity,
      status: reservation.status,
    });
  }
}

interface Applied {
  response: TestResponse;
  expected: number;
  code?: string;
}

/** Sends one operation, predicts its status from the model, and moves the model on when it succeeds. */
async function apply(
  app: TestApp,
  model: Model,
  op: Operation,
  productIds: readonly string[],
  keyOf: (pick: LevelPick) => string,
): Promise<Applied> {
  switch (op.kind) {
    case 'initialise': {
      const key = keyOf(op);
      const response = await app.request('POST', '/api/v1/stock', {
        body: { product_id: productIds[op.product], store_id: STORES[op.store], quantity: op.quantity },
      });
      if (model.levels.has(key)) return { response, expected: 409, code: 'STOCK_LEVEL_EXISTS' };
      model.levels.set(key, { quantity: op.quantity, reserved: 0 });
      return { response, expected: 201 };
    }
    case 'adjust': {
      const key = keyOf(op);
      const response = await app.request('POST', `/api/v1/stock/${key}/adjust`, {
        body: { quantity_change: op.change, reason: op.reason },
      });
      if (signProblem(op.reason, op.change)) return { response, expected: 422, code: 'INVALID_ADJUSTMENT' };
      const level = model.levels.get(key);
      if (level === undefined) return { response, expected: 404, code: 'STOCK_LEVEL_NOT_FOUND' };
      if (level.quantity + op.change < level.reserved)
        return { response, expected: 409, code: 'INSUFFICIENT_STOCK' };
      level.quantity += op.change;
      return { response, expected: 200 };
    }
    case 'set': {
      const key = keyOf(op);
      const read = await app.request('GET', `/api/v1/stock/${key}`, { key: null });
      const level = model.levels.get(key);
      if (level === undefined) {
        const response = await app.request('PUT', `/api/v1/stock/${key}`, {
          body: { quantity: op.quantity },
          headers: { 'if-match': '"1"' },
        });
        expect(read.status).toBe(404);
        return { response, expected: 404, code: 'STOCK_LEVEL_NOT_FOUND' };
      }
      expect(read.body).toMatchObject(level);
      const version = Number(JSON.parse(String(read.headers['etag'])));
      expect(version).toBe(read.body.version);
      const ifMatch = `"${op.stale ? version - 1 : version}"`;
      const response = await app.request('PUT', `/api/v1/stock/${key}`, {
        body: { quantity: op.quantity, reason: 'COUNT' },
        headers: { 'if-match': ifMatch },
      });
      if (op.stale) return { response, expected: 412, code: 'VERSION_CONFLICT' };
      if (op.quantity < level.reserved) return { response, expected: 409, code: 'QUANTITY_BELOW_RESERVED' };
      expect(response.headers['etag']).toBe(`"${response.body.version}"`);
      expect(response.body.version).toBeGreaterThan(version);
      level.quantity = op.quantity;
      return { response, expected: 200 };
    }
    case 'reserve': {
      const key = keyOf(op);
      const response = await app.request('POST', '/api/v1/reservations', {
        body: {
          product_id: productIds[op.product],
          store_id: STORES[op.store],
          quantity: op.quantity,
          customer_id: 'prop-customer',
        },
      });
      const available = model.available(key);
      if (available === undefined) return { response, expected: 404, code: 'STOCK_LEVEL_NOT_FOUND' };
      if (op.quantity > available) return { response, expected: 409, code: 'INSUFFICIENT_STOCK' };
      model.level(key).reserved += op.quantity;
      if (response.status === 201)
        model.reservations.push({
          id: response.body.reservation_id,
          key,
          quantity: op.quantity,
          status: 'PENDING',
        });
      return { response, expected: 201 };
    }
    case 'batch': {
      const items = op.lines.map((line) => ({
        product_id: productIds[line.product],
        store_id: STORES[line.store],
        quantity: line.quantity,
      }));
      const response = await app.request('POST', '/api/v1/reservations/batch', {
        body: { customer_id: 'prop-basket', items },
      });
      const wanted = new Map<string, number>();
      for (const line of op.lines) wanted.set(keyOf(line), (wanted.get(keyOf(line)) ?? 0) + line.quantity);
      const met = [...wanted].every(([key, units]) => (model.available(key) ?? -1) >= units);
      if (!met) return { response, expected: 409, code: 'INSUFFICIENT_STOCK' };
      for (const [key, units] of wanted) model.level(key).reserved += units;
      if (response.status === 201) {
        expect(response.body.reservations).toHaveLength(items.length);
        op.lines.forEach((line, index) => {
          const reservation = response.body.reservations[index];
          expect(reservation).toMatchObject({
            ...items[index],
            status: 'PENDING',
            batch_id: response.body.batch_id,
          });
          model.reservations.push({
            id: reservation.reservation_id,
            key: keyOf(line),
            quantity: line.quantity,
            status: 'PENDING',
          });
        });
      }
      return { response, expected: 201 };
    }
    case 'confirm':
    case 'cancel': {
      const target =
        model.reservations.length === 0 ? undefined : model.reservations[op.pick % model.reservations.length];
      const response = await app.request(
        'POST',
        `/api/v1/reservations/${target?.id ?? UNKNOWN_RESERVATION}/${op.kind}`,
      );
      if (target === undefined) return { response, expected: 404, code: 'RESERVATION_NOT_FOUND' };
      const level = model.level(target.key);
      if (op.kind === 'confirm') {
        if (target.status === 'CANCELLED') return { response, expected: 409, code: 'RESERVATION_CANCELLED' };
        if (target.status === 'PENDING') {
          level.quantity -= target.quantity;
          level.reserved -= target.quantity;
          target.status = 'CONFIRMED';
        }
      } else {
        if (target.status === 'CONFIRMED') return { response, expected: 409, code: 'RESERVATION_CONFIRMED' };
        if (target.status === 'PENDING') {
          level.reserved -= target.quantity;
          target.status = 'CANCELLED';
        }
      }
      if (response.status === 200) expect(response.body.status).toBe(target.status);
      return { response, expected: 200 };
    }
    case 'transfer': {
      const response = await app.request('POST', '/api/v1/stock/transfer', {
        body: {
          product_id: productIds[op.product],
          from_store_id: STORES[op.from],
          to_store_id: STORES[op.to],
          quantity: op.quantity,
        },
      });
      if (op.from === op.to) return { response, expected: 422, code: 'SAME_STORE_TRANSFER' };
      const fromKey = keyOf({ product: op.product, store: op.from });
      const toKey = keyOf({ product: op.product, store: op.to });
      const available = model.available(fromKey);
      if (available === undefined) return { response, expected: 404, code: 'STOCK_LEVEL_NOT_FOUND' };
      if (op.quantity > available) return { response, expected: 409, code: 'INSUFFICIENT_STOCK' };
      model.level(fromKey).quantity -= op.quantity;
      const destination = model.levels.get(toKey) ?? { quantity: 0, reserved: 0 };
      destination.quantity += op.quantity;
      model.levels.set(toKey, destination);
      return { response, expected: 200 };
    }
  }
}

describeOnEachDatabase('stock invariants under random operation sequences', (harness) => {
  it('holds every invariant after each step and ends where the model does', {
    timeout: 180_000,
  }, async () => {
    const app = harness();
    const numRuns = app.kind === 'pglite' ? 25 : 15;
    await fc.assert(
      fc.asyncProperty(
        openingStock,
        fc.limitShrink(fc.array(operation, { minLength: 5, maxLength: 30, size: 'max' }), 100),
        (opening, operations) => runSequence(app, opening, operations),
      ),
      { numRuns },
    );
  });
});
