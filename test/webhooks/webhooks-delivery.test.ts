import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { WebhookDispatcher, WebhookService } from '../../src/modules/webhooks/index.js';
import { ENABLED_ENDPOINTS_TTL_MS } from '../../src/modules/webhooks/webhook.service.js';
import { subjectOf } from '../../src/platform/events/broker.js';
import type { CloudEvent } from '../../src/platform/events/cloud-event.js';
import { readEventLog } from '../../src/platform/events/outbox-store.js';
import { describeOnEachDatabase, testSecretBox } from '../support/test-app.js';
import { loggedEventIds, resetWebhooks, WebhookReceiver, waitUntil } from './webhook-receiver.js';

/** Short enough for a test, long enough that a receiver recovering within it gets everything. */
const FAST_RETRIES_MS = [50, 100, 200, 400, 800, 1_600, 3_200, 5_000];

describeOnEachDatabase(
  'webhook delivery',
  (harness) => {
    const receivers: WebhookReceiver[] = [];
    beforeEach(async () => {
      await resetWebhooks(harness().db);
      harness().app.webhooks.retune({
        retryScheduleMs: FAST_RETRIES_MS,
        breakerFailureThreshold: 5,
        breakerOpenMs: 200,
      });
    });
    afterEach(async () => {
      for (const receiver of receivers.splice(0)) await receiver.close();
    });

    async function receiver(port = 0): Promise<WebhookReceiver> {
      const started = await WebhookReceiver.start(port);
      receivers.push(started);
      return started;
    }

    async function register(url: string, body: Record<string, unknown> = {}) {
      const response = await harness().request('POST', '/api/v1/webhooks', {
        body: { url, event_types: ['stock.created', 'stock.updated', 'stock.transferred'], ...body },
      });
      expect(response.status).toBe(201);
      return response.body as { id: string; secret: string };
    }

    async function stocked(quantity = 20) {
      const { createStore, createProduct, stock } = harness();
      const store = await createStore();
      const product = await createProduct();
      await stock(product.id, store, quantity);
      return { store, product, levelUrl: `/api/v1/stock/${product.id}/${store}` };
    }

    async function adjust(levelUrl: string, change: number) {
      const response = await harness().request('POST', `${levelUrl}/adjust`, {
        body: { quantity_change: change, reason: 'CORRECTION' },
      });
      expect(response.status).toBe(200);
    }

    /** Every stock event of the log acknowledged by `target`, each once after de-duplication. */
    async function allStockEventsAcknowledged(target: WebhookReceiver, expected: number, timeoutMs = 15_000) {
      await waitUntil(
        `${expected} stock events are acknowledged`,
        async () => {
          const logged = await loggedEventIds(harness().db, 'stock.');
          const acknowledged = target.acknowledgedIds();
          return (
            logged.length === expected &&
            acknowledged.size === expected &&
            logged.every((id) => acknowledged.has(id))
          );
        },
        timeoutMs,
      );
    }

    /** The receiver answers before the worker records the outcome: wait for the log to say so too. */
    async function allSucceeded(webhookId: string, count: number) {
      await waitUntil(`${count} deliveries succeeded`, async () => {
        const log = await deliveries(webhookId, '?status=SUCCEEDED');
        return log.data.length === count;
      });
    }

    async function deliveries(webhookId: string, query = '') {
      const response = await harness().request('GET', `/api/v1/webhooks/${webhookId}/deliveries${query}`);
      expect(response.status).toBe(200);
      return response.body as { data: Array<Record<string, unknown>>; next_cursor: string | null };
    }

    it('delivers every stock change made through the API, signed and in event order', async () => {
      const { request } = harness();
      const target = await receiver();
      const endpoint = await register(target.url);
      const { store, product, levelUrl } = await stocked(20);
      await adjust(levelUrl, -2);
      await adjust(levelUrl, 5);
      const other = await harness().createStore();
      const transfer = await request('POST', '/api/v1/stock/transfer', {
        body: { product_id: product.id, from_store_id: store, to_store_id: other, quantity: 3 },
      });
      expect(transfer.status).toBe(200);
      const reservation = await request('POST', '/api/v1/reservations', {
        body: { product_id: product.id, store_id: store, quantity: 1, customer_id: 'c-1' },
      });
      expect(reservation.status).toBe(201);
      // created, 2 adjustments, transfer (created at the destination, 2 updates, transferred), reserved
      await allStockEventsAcknowledged(target, 8);

      const logged = await loggedEventIds(harness().db, 'stock.');
      expect(target.requests.map((received) => received.id)).toEqual(logged);
      for (const received of target.requests) {
        const event = new Webhook(endpoint.secret).verify(received.body, received.headers) as {
          id: string;
          type: string;
          tenantid: string;
          specversion: string;
        };
        expect(event.id).toBe(received.id);
        expect(event).toMatchObject({ tenantid: 'default', specversion: '1.0' });
        expect(event.type).toMatch(/^stock\./);
        expect(received.headers['content-type']).toBe('application/json');
        expect(Math.abs(Number(received.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
      }

      await allSucceeded(endpoint.id, 8);
      const log = await deliveries(endpoint.id);
      expect(log.data).toHaveLength(8);
      for (const delivery of log.data) {
        expect(delivery).toMatchObject({
          status: 'SUCCEEDED',
          attempts: 1,
          last_status_code: 200,
          last_error: null,
        });
        expect(delivery['next_attempt_at']).toBeNull();
      }
      const sequences = log.data.map((delivery) => delivery['event_sequence'] as number);
      expect(sequences).toEqual([...sequences].sort((a, b) => b - a));
      const firstPage = await deliveries(endpoint.id, '?limit=5');
      const secondPage = await deliveries(endpoint.id, `?limit=5&cursor=${firstPage.next_cursor}`);
      expect([...firstPage.data, ...secondPage.data].map((delivery) => delivery['id'])).toEqual(
        log.data.map((delivery) => delivery['id']),
      );
      expect((await deliveries(endpoint.id, '?status=DEAD')).data).toEqual([]);
    });

    it('filters by store, skips disabled endpoints and sends each tenant only its own events', async () => {
      const { request } = harness();
      const target = await receiver();
      const { store, levelUrl } = await stocked(5);
      const second = await stocked(5);
      const filtered = await register(`${target.url}?filtered`, {
        event_types: ['stock.updated'],
        store_ids: [store],
      });
      const disabled = await register(`${target.url}?disabled`, { event_types: ['*'], enabled: false });
      await adjust(second.levelUrl, 1);
      await adjust(levelUrl, 1);
      await waitUntil('the filtered endpoint got its event', () => target.requests.length >= 1);
      // The next change proves the earlier one for the other store was not merely late.
      await adjust(levelUrl, 2);
      await waitUntil('the filtered endpoint got both', () => target.requests.length >= 2);
      const log = await deliveries(filtered.id);
      expect(log.data).toHaveLength(2);
      expect(target.requests.every((received) => JSON.parse(received.body).data.store_id === store)).toBe(
        true,
      );
      expect((await deliveries(disabled.id)).data).toEqual([]);
      const otherTenant = await request('GET', '/api/v1/webhooks', {
        key: 'test-other-tenant-key-0123456789',
      });
      expect(otherTenant.body.data).toEqual([]);
    });

    it('gets every event exactly once after de-duplication when the receiver answers 503 for a while', async () => {
      const target = await receiver();
      let down = true;
      target.answer = () => (down ? 503 : 200);
      const endpoint = await register(target.url);
      const { levelUrl } = await stocked(50);
      for (const change of [1, -1, 2, -2, 3]) await adjust(levelUrl, change);
      await waitUntil('the circuit opened', async () => {
        const state = await harness().request('GET', `/api/v1/webhooks/${endpoint.id}`);
        return state.body.consecutive_failures >= 5 && state.body.circuit_open_until !== null;
      });
      expect(target.acknowledgedIds().size).toBe(0);
      down = false;
      await allStockEventsAcknowledged(target, 6);
      await allSucceeded(endpoint.id, 6);
      const log = await deliveries(endpoint.id);
      expect(log.data.map((delivery) => delivery['status'])).toEqual(Array(6).fill('SUCCEEDED'));
      const healed = await harness().request('GET', `/api/v1/webhooks/${endpoint.id}`);
      expect(healed.body).toMatchObject({ consecutive_failures: 0, circuit_open_until: null });
    });

    it('gets every event once the receiver, unreachable at first, comes up', async () => {
      const probe = await receiver();
      const port = probe.port;
      await probe.close();
      const endpoint = await register(`http://127.0.0.1:${port}/hooks`);
      const { levelUrl } = await stocked(50);
      await adjust(levelUrl, 1);
      await adjust(levelUrl, 2);
      await waitUntil('attempts failed to connect', async () => {
        const log = await deliveries(endpoint.id);
        return log.data.some((delivery) => String(delivery['last_error']).includes('ECONNREFUSED'));
      });
      const target = await receiver(port);
      await allStockEventsAcknowledged(target, 3);
    });

    it('dead-letters after the schedule, and redelivers on request even when dead', async () => {
      harness().app.webhooks.retune({ retryScheduleMs: [20, 20], breakerFailureThreshold: 100 });
      const target = await receiver();
      target.answer = () => 500;
      const endpoint = await register(target.url);
      await stocked(5);
      await waitUntil(
        'the delivery is dead',
        async () => (await deliveries(endpoint.id, '?status=DEAD')).data.length === 1,
      );
      const [dead] = (await deliveries(endpoint.id)).data;
      expect(dead).toMatchObject({
        status: 'DEAD',
        attempts: 3,
        last_status_code: 500,
        next_attempt_at: null,
      });
      expect(dead?.['last_error']).toBe('HTTP 500');
      expect(target.requests).toHaveLength(3);

      target.answer = () => 200;
      const redelivered = await harness().request(
        'POST',
        `/api/v1/webhooks/${endpoint.id}/deliveries/${dead?.['id']}/redeliver`,
      );
      expect(redelivered.status).toBe(202);
      expect(redelivered.body).toMatchObject({ status: 'PENDING', attempts: 0 });
      await waitUntil(
        'the redelivery succeeded',
        async () => (await deliveries(endpoint.id)).data[0]?.['status'] === 'SUCCEEDED',
      );
      expect(target.acknowledgedIds()).toEqual(new Set([dead?.['event_id']]));
    });

    it('replays the event log from a sequence or a time, also to an endpoint created afterwards', async () => {
      const { request } = harness();
      const target = await receiver();
      const startedAt = new Date(Date.now() - 1_000).toISOString();
      const endpoint = await register(target.url, { event_types: ['stock.updated'] });
      const { levelUrl } = await stocked(10);
      for (const change of [1, 2, 3]) await adjust(levelUrl, change);
      await waitUntil('three updates arrived', () => target.requests.length === 3);
      const sequences = (await deliveries(endpoint.id)).data
        .map((delivery) => delivery['event_sequence'] as number)
        .sort((a, b) => a - b);

      const fromSecond = await request('POST', `/api/v1/webhooks/${endpoint.id}/replay`, {
        body: { from_sequence: sequences[1] },
      });
      expect(fromSecond.status).toBe(202);
      expect(fromSecond.body).toMatchObject({ queued: 2, truncated: false });
      await waitUntil('two replays arrived', () => target.requests.length === 5);
      const ids = target.requests.map((received) => received.id);
      expect(ids.slice(3)).toEqual(ids.slice(1, 3));

      const late = await receiver();
      const lateEndpoint = await register(late.url, { event_types: ['*'] });
      const fromTime = await request('POST', `/api/v1/webhooks/${lateEndpoint.id}/replay`, {
        body: { from_time: startedAt },
      });
      // store.created, product.created, stock.created and three stock.updated
      expect(fromTime.body).toMatchObject({ queued: 6, truncated: false });
      await waitUntil('the late endpoint caught up', () => late.acknowledgedIds().size === 6);
      const future = await request('POST', `/api/v1/webhooks/${lateEndpoint.id}/replay`, {
        body: { from_time: new Date(Date.now() + 3_600_000).toISOString() },
      });
      expect(future.body).toMatchObject({ queued: 0, truncated: false });
    });

    it('signs with both secrets while a rotated-out one overlaps the new one', async () => {
      const target = await receiver();
      const endpoint = await register(target.url);
      const { levelUrl } = await stocked(10);
      await waitUntil('the first event arrived', () => target.requests.length === 1);
      const first = target.requests[0];
      expect(first?.headers['webhook-signature']?.split(' ')).toHaveLength(1);
      const rotated = await harness().request('PATCH', `/api/v1/webhooks/${endpoint.id}`, {
        body: { rotate_secret: true },
      });
      const newSecret = rotated.body.secret as string;
      await adjust(levelUrl, 1);
      await waitUntil('the second event arrived', () => target.requests.length === 2);
      const second = target.requests[1];
      expect(second?.headers['webhook-signature']?.split(' ')).toHaveLength(2);
      for (const secret of [endpoint.secret, newSecret]) {
        expect(() => new Webhook(secret).verify(second?.body ?? '', second?.headers ?? {})).not.toThrow();
      }
      expect(() => new Webhook(newSecret).verify(first?.body ?? '', first?.headers ?? {})).toThrow();
    });

    it('lets no failing endpoint hold up another', async () => {
      const healthy = await receiver();
      const hanging = await receiver();
      hanging.answer = () => 503;
      await register(hanging.url);
      await register(healthy.url);
      const { levelUrl } = await stocked(10);
      for (const change of [1, 1, 1, 1]) await adjust(levelUrl, change);
      await waitUntil(
        'the healthy endpoint got everything',
        () => healthy.acknowledgedIds().size === 5,
        5_000,
      );
      expect(hanging.acknowledgedIds().size).toBe(0);
    });

    it('queues an event the broker delivers twice only once', async () => {
      const { app, db } = harness();
      const target = await receiver();
      const endpoint = await register(target.url);
      const { levelUrl } = await stocked(10);
      await waitUntil('the first event arrived', () => target.requests.length === 1);
      const [first] = await readEventLog(db.schemaOwner(), {
        tenantId: 'default',
        afterSequence: 0,
        limit: 10,
        types: ['stock.created'],
      });
      if (first === undefined) throw new Error('stock.created is not in the log');
      await app.broker.publish([
        {
          id: first.id,
          subject: subjectOf(first.envelope),
          sequence: first.sequence,
          envelope: first.envelope,
          headers: {},
        },
      ]);
      // The broker keeps order: once the next change is delivered, the duplicate was handled before it.
      await adjust(levelUrl, 1);
      await allSucceeded(endpoint.id, 2);
      expect(target.requests.map((received) => received.id)).toEqual(await loggedEventIds(db, 'stock.'));
    });

    it("sees its own endpoint changes at once and another instance's within the endpoints' TTL", async () => {
      const { db } = harness();
      const other = new WebhookService(db, { allowPrivateTargets: true, secretBox: testSecretBox() });
      const event = (type: string) => {
        const id = randomUUID();
        const envelope: CloudEvent = {
          specversion: '1.0',
          id,
          source: '/omnistock',
          type,
          subject: 'stock/p/s',
          time: new Date().toISOString(),
          datacontenttype: 'application/json',
          tenantid: 'default',
          correlationid: id,
          data: { store_id: 'ANY' },
        };
        return { id, type, sequence: 1, envelope };
      };
      // The other instance has just matched an event of the tenant: it knows of no endpoint.
      expect(await other.acceptEvent(event('stock.updated'))).toBe(0);
      const target = await receiver();
      const endpoint = await register(target.url, { event_types: ['stock.updated'] });
      const started = Date.now();
      let seenByOther = 0;
      while (seenByOther === 0) {
        seenByOther = await other.acceptEvent(event('stock.updated'));
        if (seenByOther === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(Date.now() - started).toBeLessThan(ENABLED_ENDPOINTS_TTL_MS + 1_000);
      // A change the instance makes itself applies to the very next event it matches.
      await other.update(
        { tenantId: 'default', principal: null, requestId: 'cache-test', correlationId: 'cache-test' },
        endpoint.id,
        undefined,
        { enabled: false },
      );
      expect(await other.acceptEvent(event('stock.updated'))).toBe(0);
    });

    it('shares the queue between the workers of several instances without sending anything twice', async () => {
      const { app, db } = harness();
      // A second instance: same database, and a member of the same consumer group, so it queues half
      // of the events and its worker, woken by those, competes for every due delivery.
      const second = new WebhookDispatcher(
        {
          database: db,
          broker: app.broker,
          service: new WebhookService(db, { allowPrivateTargets: true, secretBox: testSecretBox() }),
          logger: pino({ level: 'silent' }),
          secretBox: testSecretBox(),
        },
        { timeoutMs: 1_000, allowPrivateTargets: true },
      );
      await second.start();
      try {
        const targets = [await receiver(), await receiver(), await receiver()];
        const endpoints = [];
        for (const target of targets) endpoints.push(await register(target.url));
        const { levelUrl } = await stocked(100);
        for (let change = 1; change <= 9; change += 1) await adjust(levelUrl, change % 2 === 0 ? -1 : 2);
        for (const target of targets) await allStockEventsAcknowledged(target, 10);
        for (const endpoint of endpoints) await allSucceeded(endpoint.id, 10);
        const logged = await loggedEventIds(db, 'stock.');
        // Nothing twice, and each endpoint in event order although two workers took turns.
        for (const target of targets) expect(target.requests.map((received) => received.id)).toEqual(logged);
      } finally {
        await second.stop();
      }
    });
  },
  { webhookAllowPrivateTargets: true, webhookTimeoutMs: 1_000 },
);
