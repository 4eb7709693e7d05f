import { expect, it } from 'vitest';
import { describeOnEachDatabase } from '../support/test-app.js';

/**
 * OWASP API6:2023 Unrestricted Access to Sensitive Business Flows: one customer cannot hoard
 * stock through reservations (holds per product and open reservations are capped).
 */
const UNITS_PER_PRODUCT_MAX = 5;
const OPEN_MAX = 3;

describeOnEachDatabase(
  'API6 anti-hoarding caps',
  (harness) => {
    async function stocked(quantity = 100) {
      const store = await harness().createStore();
      const product = await harness().createProduct();
      await harness().stock(product.id, store, quantity);
      return { store, productId: product.id as string };
    }

    function reserve(productId: string, store: string, customer: string, quantity: number) {
      return harness().request('POST', '/api/v1/reservations', {
        body: { product_id: productId, store_id: store, customer_id: customer, quantity },
      });
    }

    it('API6: refuses a customer more pending units of one product than the cap, and reserves nothing', async () => {
      const { store, productId } = await stocked();
      expect((await reserve(productId, store, 'hoarder', 4)).status).toBe(201);
      const refused = await reserve(productId, store, 'hoarder', 2);
      expect(refused.status).toBe(409);
      expect(refused.body).toMatchObject({
        code: 'CUSTOMER_UNITS_LIMIT_EXCEEDED',
        product_id: productId,
        held: 4,
        requested: 2,
        limit: UNITS_PER_PRODUCT_MAX,
      });
      const level = await harness().request('GET', `/api/v1/stock/${productId}/${store}`);
      expect(level.body.reserved).toBe(4);
      // Another customer is not affected; a cancelled hold frees the customer's quota.
      expect((await reserve(productId, store, 'someone-else', 5)).status).toBe(201);
      expect((await reserve(productId, store, 'hoarder', 1)).status).toBe(201);
    });

    it('API6: frees the quota when a hold is cancelled', async () => {
      const { store, productId } = await stocked();
      const held = await reserve(productId, store, 'c-cancel', 5);
      expect((await reserve(productId, store, 'c-cancel', 1)).status).toBe(409);
      await harness().request('POST', `/api/v1/reservations/${held.body.reservation_id}/cancel`);
      expect((await reserve(productId, store, 'c-cancel', 5)).status).toBe(201);
    });

    it('API6: refuses more open reservations than the cap, counting every line of a batch', async () => {
      const { store, productId } = await stocked();
      const other = await harness().createProduct();
      await harness().stock(other.id, store, 100);
      expect((await reserve(productId, store, 'c-open', 1)).status).toBe(201);
      const batch = await harness().request('POST', '/api/v1/reservations/batch', {
        body: {
          customer_id: 'c-open',
          items: [
            { product_id: productId, store_id: store, quantity: 1 },
            { product_id: other.id, store_id: store, quantity: 1 },
            { product_id: other.id, store_id: store, quantity: 1 },
          ],
        },
      });
      expect(batch.status).toBe(409);
      expect(batch.body).toMatchObject({
        code: 'CUSTOMER_OPEN_RESERVATIONS_LIMIT_EXCEEDED',
        held: 1,
        requested: 3,
        limit: OPEN_MAX,
      });
      const stats = await harness().request('GET', '/api/v1/reservations/stats');
      expect(stats.body.pending.count).toBe(1);
    });

    it('API6: many parallel reservations by one customer never pass the caps', async () => {
      const { store, productId } = await stocked();
      const attempts = await Promise.all(
        Array.from({ length: 20 }, () => reserve(productId, store, 'racer', 1)),
      );
      const created = attempts.filter((response) => response.status === 201).length;
      const refused = attempts.filter((response) => response.status === 409);
      expect(created).toBe(OPEN_MAX);
      expect(refused.length).toBe(20 - OPEN_MAX);
      for (const response of refused) {
        expect(response.body.code).toBe('CUSTOMER_OPEN_RESERVATIONS_LIMIT_EXCEEDED');
      }
      const pending = await harness()
        .db.schemaOwner()
        .query<{ count: number; units: number }>(
          `SELECT count(*)::integer AS count, COALESCE(sum(quantity), 0)::integer AS units
           FROM reservations WHERE customer_id = 'racer' AND status = 'PENDING'`,
        );
      expect(pending.rows[0]).toEqual({ count: OPEN_MAX, units: OPEN_MAX });
      const level = await harness().request('GET', `/api/v1/stock/${productId}/${store}`);
      expect(level.body.reserved).toBe(OPEN_MAX);
    });

    it('API6: parallel large holds by one customer never pass the units cap', async () => {
      const { store, productId } = await stocked();
      const attempts = await Promise.all(
        Array.from({ length: 10 }, () => reserve(productId, store, 'bulk', 2)),
      );
      expect(attempts.filter((response) => response.status === 201).length).toBe(2);
      const level = await harness().request('GET', `/api/v1/stock/${productId}/${store}`);
      expect(level.body.reserved).toBeLessThanOrEqual(UNITS_PER_PRODUCT_MAX);
      expect(level.body.reserved).toBe(4);
    });
  },
  { reservationCustomerUnitsPerProductMax: UNITS_PER_PRODUCT_MAX, reservationCustomerOpenMax: OPEN_MAX },
);
