import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it } from 'vitest';
import type { BrokerMessage } from '../../src/platform/events/broker.js';
import {
  backlog,
  markPublished,
  publishedThrough,
  purgePublishedEvents,
} from '../../src/platform/events/outbox-store.js';
import { newId } from '../../src/platform/ids.js';
import { hashApiKey } from '../../src/platform/security/api-key.js';
import { SseClient } from '../support/sse-client.js';
import { describeOnEachDatabase, OTHER_TENANT_KEY } from '../support/test-app.js';

const VENDOR_KEY = 'test-vendor-key-0123456789abcdef';

async function eventually<T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value) || Date.now() > deadline) return value;
    await sleep(25);
  }
}

describeOnEachDatabase('event backbone', (harness) => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function stocked(quantity = 10) {
    const { createStore, createProduct, stock } = harness();
    const store = await createStore();
    const product = await createProduct();
    await stock(product.id, store, quantity);
    return { store, product, url: `/api/v1/stock/${product.id}/${store}` };
  }

  /** Until the broker acknowledged every committed event (the watermark written past them). */
  async function untilPublished(): Promise<void> {
    const { db } = harness();
    await eventually(
      () => backlog(db.schemaOwner()),
      (figures) => Number(figures.pending) === 0,
    );
  }

  async function baseUrl(): Promise<string> {
    const { server } = harness().app;
    if (server.server.listening) {
      const address = server.server.address();
      if (typeof address === 'object' && address !== null) return `http://127.0.0.1:${address.port}`;
    }
    return server.listen({ port: 0, host: '127.0.0.1' });
  }

  it('publishes every committed change once, in order per level, and moves the publish watermark past it', async () => {
    const { request, app } = harness();
    const received: BrokerMessage[] = [];
    const subscription = await app.broker.consume(`test-${Date.now()}`, async (message) => {
      received.push(message);
    });
    cleanups.push(() => subscription.close());
    const { url } = await stocked(10);
    for (const change of [-1, -2, 3])
      await request('POST', `${url}/adjust`, { body: { quantity_change: change, reason: 'CORRECTION' } });
    await untilPublished();
    await eventually(
      async () => received.length,
      (count) => count >= 6,
    );
    const types = received.map((message) => message.envelope.type);
    expect(types).toEqual([
      'store.created',
      'product.created',
      'stock.created',
      'stock.updated',
      'stock.updated',
      'stock.updated',
    ]);
    expect(new Set(received.map((message) => message.id)).size).toBe(received.length);
    const stockEvents = received.filter((message) => message.envelope.type.startsWith('stock.'));
    expect(stockEvents.map((message) => (message.envelope.data as any).version)).toEqual([1, 2, 3, 4]);
    expect(stockEvents.map((message) => (message.envelope.data as any).new_quantity)).toEqual([10, 9, 7, 10]);
    const sequences = received.map((message) => message.sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    expect(received[3]?.subject).toMatch(/^inventory\.default\.stock\.updated\.STORE-\d+$/);
    expect(received[3]?.envelope).toMatchObject({
      specversion: '1.0',
      source: '/omnistock',
      tenantid: 'default',
    });
  });

  it('pages the event log by cursor, filtered by type, per tenant', async () => {
    const { request } = harness();
    const { url } = await stocked(5);
    await request('POST', `${url}/adjust`, { body: { quantity_change: 1, reason: 'RESTOCK' } });
    const all = await eventually(
      () => request('GET', '/api/v1/events?limit=2'),
      (response) => response.body.data?.length === 2,
    );
    expect(all.body.next_cursor).toEqual(expect.any(String));
    const rest = await eventually(
      () => request('GET', `/api/v1/events?after=${all.body.next_cursor}&limit=10`),
      (response) => response.body.data?.length === 2,
    );
    expect(rest.body.data.map((event: any) => event.type)).toEqual(['stock.created', 'stock.updated']);
    expect(rest.body.next_cursor).toBeNull();
    const onlyStock = await request('GET', '/api/v1/events?type=stock.*');
    expect(onlyStock.body.data.map((event: any) => event.type)).toEqual(['stock.created', 'stock.updated']);
    const otherTenant = await request('GET', '/api/v1/events', { key: OTHER_TENANT_KEY });
    expect(otherTenant.body.data).toEqual([]);
    expect((await request('GET', '/api/v1/events', { key: null })).status).toBe(401);
    expect((await request('GET', '/api/v1/events?after=-1')).status).toBe(400);
  });

  it('streams changes as Server-Sent Events, filtered, and resumes from Last-Event-ID', async () => {
    const { request } = harness();
    const { product, store, url } = await stocked(10);
    const base = await baseUrl();
    const live = await SseClient.connect(`${base}/api/v1/events/stream?store_id=${store}`);
    cleanups.push(() => live.close());
    expect(live.status).toBe(200);
    await sleep(50);
    await request('POST', `${url}/adjust`, { body: { quantity_change: -4, reason: 'SALE' } });
    const reservation = await request('POST', '/api/v1/reservations', {
      body: { product_id: product.id, store_id: store, quantity: 1, customer_id: 'c-9' },
    });
    expect(reservation.status).toBe(201);
    const events = await live.waitFor(
      (received) => received.filter((event) => event.event === 'stock.updated').length >= 2,
    );
    // Anonymous streams carry public stock data, never reservations (they name customers).
    expect(events.map((event) => event.event)).not.toContain('reservation.created');
    const sale = events.find((event) => event.data.data.reason === 'SALE');
    expect(sale?.data).toMatchObject({
      type: 'stock.updated',
      data: { new_quantity: 6, product_id: product.id },
    });
    expect(sale?.id).toBe(String(sale?.data.sequence));

    const authenticated = await SseClient.connect(`${base}/api/v1/events/stream?type=reservation.*`, {
      'x-api-key': 'test-admin-key-0123456789abcdef',
      'last-event-id': '0',
    });
    cleanups.push(() => authenticated.close());
    const resumed = await authenticated.waitFor((received) => received.length >= 1);
    expect(resumed.map((event) => event.event)).toEqual(['reservation.created']);

    const fromSale = await SseClient.connect(`${base}/api/v1/events/stream`, {
      'last-event-id': String(sale?.data.sequence),
    });
    cleanups.push(() => fromSale.close());
    const missed = await fromSale.waitFor((received) => received.length >= 1);
    expect(missed[0]).toMatchObject({ event: 'stock.updated' });
    expect(Number(missed[0]?.id)).toBeGreaterThan(Number(sale?.id));
    expect((await request('GET', '/api/v1/events/stream?type=<script>', { key: null })).status).toBe(400);
  });

  it('reports the backlog to admins only, and replays the log to the broker', async () => {
    const { request, app } = harness();
    await stocked(3);
    const pending = await eventually(
      () => request('GET', '/api/v1/events/pending'),
      (response) => response.body.pending === 0,
    );
    expect(pending.body).toMatchObject({
      pending: 0,
      broker: 'memory',
      breaker_state: 'closed',
      oldest_pending_age_seconds: 0,
    });
    const replayed: BrokerMessage[] = [];
    const subscription = await app.broker.consume(`replay-${Date.now()}`, async (message) => {
      replayed.push(message);
    });
    cleanups.push(() => subscription.close());
    const replay = await request('POST', '/api/v1/events/replay', { body: { after_sequence: 0 } });
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ replayed: 3, complete: true });
    await eventually(
      async () => replayed.length,
      (count) => count >= 3,
    );
    expect(replayed.map((message) => message.envelope.type)).toEqual([
      'store.created',
      'product.created',
      'stock.created',
    ]);
    expect(replayed[0]?.id).toContain(':replay:');
    expect((await request('POST', '/api/v1/events/replay', { body: {} })).status).toBe(400);
    const since = await request('POST', '/api/v1/events/replay', {
      body: { since: new Date(Date.now() + 60_000).toISOString() },
    });
    expect(since.body.replayed).toBe(0);
  });

  it('keeps operational routes to admins, refusing before an idempotency key is claimed', async () => {
    const { request, db } = harness();
    await db.schemaOwner().query(
      `INSERT INTO api_keys (tenant_id, id, name, key_hash, key_prefix, role)
       VALUES ('default', $1, 'pos terminal', $2, 'vendor-key', 'vendor')`,
      [newId(), hashApiKey(VENDOR_KEY)],
    );
    expect((await request('GET', '/api/v1/events/pending', { key: VENDOR_KEY })).status).toBe(403);
    const replay = await request('POST', '/api/v1/events/replay', {
      key: VENDOR_KEY,
      body: { after_sequence: 0 },
      headers: { 'idempotency-key': 'vendor-replay' },
    });
    expect(replay.status).toBe(403);
    const stored = await db.schemaOwner().query('SELECT 1 FROM idempotency_keys');
    expect(stored.rowCount).toBe(0);
  });

  /** Published events store.created, product.created and stock.created, all but `young` 40 days old. */
  async function publishedAndAgedBut(young: string): Promise<void> {
    await stocked(1);
    await untilPublished();
    await harness()
      .db.schemaOwner()
      .query(`UPDATE outbox_events SET created_at = now() - interval '40 days' WHERE event_type <> $1`, [
        young,
      ]);
  }

  async function eventTypesLeft(): Promise<string[]> {
    const left = await harness()
      .db.schemaOwner()
      .query<{ event_type: string }>('SELECT event_type FROM outbox_events ORDER BY sequence');
    return left.rows.map((row) => row.event_type);
  }

  const RETENTION_SECONDS = 30 * 24 * 3600;

  it('purges published events past their retention, never unpublished ones', async () => {
    const { db } = harness();
    await publishedAndAgedBut('stock.created');
    // As if the broker had acknowledged store.created but not product.created (nor what follows).
    await db.schemaOwner().query(
      `UPDATE event_log_published SET through_sequence =
           (SELECT sequence - 1 FROM outbox_events WHERE event_type = 'product.created')`,
    );
    expect(await purgePublishedEvents(db.schemaOwner(), RETENTION_SECONDS, 1_000)).toBe(1);
    expect(await eventTypesLeft()).toEqual(['product.created', 'stock.created']);
  });

  it('purges the log as a prefix: an event inside its retention keeps every later one', async () => {
    const { db } = harness();
    // store.created before product.created and stock.created after it are old.
    await publishedAndAgedBut('product.created');
    expect(await purgePublishedEvents(db.schemaOwner(), RETENTION_SECONDS, 1_000)).toBe(1);
    expect(await eventTypesLeft()).toEqual(['product.created', 'stock.created']);
    await db.schemaOwner().query(`UPDATE outbox_events SET created_at = now() - interval '40 days'`);
    expect(await purgePublishedEvents(db.schemaOwner(), RETENTION_SECONDS, 1_000)).toBe(2);
    expect(await eventTypesLeft()).toEqual([]);
  });

  it('never moves the publish watermark back: a late acknowledgement cannot undo a later one', async () => {
    const { db } = harness();
    await stocked(1);
    await untilPublished();
    const reached = await publishedThrough(db.schemaOwner());
    expect(reached).toBeGreaterThanOrEqual(3);
    await markPublished(db.schemaOwner(), reached - 2);
    expect(await publishedThrough(db.schemaOwner())).toBe(reached);
    expect(Number((await backlog(db.schemaOwner())).pending)).toBe(0);
  });
});
