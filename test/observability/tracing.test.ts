import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { startTracing, type Tracing } from '../../src/platform/observability/tracing-sdk.js';
import { describeOnEachDatabase } from '../support/test-app.js';
import { resetWebhooks, WebhookReceiver, waitUntil } from '../webhooks/webhook-receiver.js';
import { OtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';

const SPAN_KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

let collector: OtlpReceiver;
let tracing: Tracing;

// Before the apps are built: tracing must be on when app.ts wires the traced database and broker.
beforeAll(async () => {
  collector = await OtlpReceiver.start();
  tracing = startTracing(
    {
      tracesUrl: collector.tracesUrl,
      protocol: 'http/json',
      serviceName: 'omnistock-test',
      sampler: 'parentbased_always_on',
      samplerRatio: 1,
      batchDelayMs: 50,
    },
    '0.0.0-test',
  );
});

afterAll(async () => {
  await tracing.shutdown();
  await collector.close();
});

function randomHex(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
}

describeOnEachDatabase(
  'tracing across HTTP, SQL, the broker and webhooks',
  (harness) => {
    let target: WebhookReceiver;
    beforeEach(async () => {
      await resetWebhooks(harness().db);
      target = await WebhookReceiver.start();
      return () => target.close();
    });

    it('continues the caller trace from the request through the relay and the consumer to the webhook receiver', async () => {
      const { request, createStore, createProduct } = harness();
      const registered = await request('POST', '/api/v1/webhooks', {
        body: { url: target.url, event_types: ['stock.created'] },
      });
      expect(registered.status).toBe(201);
      const store = await createStore();
      const product = await createProduct();

      const traceId = randomHex(16);
      const callerSpanId = randomHex(8);
      const response = await request('POST', '/api/v1/stock', {
        body: { product_id: product.id, store_id: store, quantity: 7 },
        headers: { traceparent: `00-${traceId}-${callerSpanId}-01` },
      });
      expect(response.status).toBe(201);

      // The receiver gets the webhook with a traceparent of the same trace.
      await waitUntil('the webhook arrives', async () => target.requests.length > 0);
      const delivered = target.requests[0]?.headers['traceparent'] ?? '';
      expect(delivered).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
      const deliveredSpanId = delivered.split('-')[2];

      let spans: ReceivedSpan[] = [];
      await waitUntil('the delivery span is exported', async () => {
        await tracing.flush();
        spans = collector.spans.filter((span) => span.traceId === traceId);
        return spans.some((span) => span.spanId === deliveredSpanId);
      });
      const byId = new Map(spans.map((span) => [span.spanId, span]));
      const ancestorsOf = (span: ReceivedSpan): ReceivedSpan[] => {
        const chain: ReceivedSpan[] = [];
        for (
          let parent = byId.get(span.parentSpanId ?? '');
          parent;
          parent = byId.get(parent.parentSpanId ?? '')
        ) {
          chain.push(parent);
        }
        return chain;
      };

      const server = spans.find((span) => span.kind === SPAN_KIND.server);
      expect(server?.name).toBe('POST /api/v1/stock');
      expect(server?.parentSpanId).toBe(callerSpanId);
      expect(server?.attributes['http.response.status_code']).toBe(201);
      expect(server?.attributes['omnistock.tenant']).toBe('default');
      expect(server?.serviceName).toBe('omnistock-test');

      const insert = spans.find((span) => span.name === 'INSERT outbox_events');
      expect(insert?.kind).toBe(SPAN_KIND.client);
      expect(insert?.attributes['db.system.name']).toBe(
        harness().kind === 'pglite' ? 'pglite' : 'postgresql',
      );
      expect(ancestorsOf(insert as ReceivedSpan)).toContain(server);

      const publish = spans.find((span) => span.kind === SPAN_KIND.producer);
      expect(publish?.name).toBe('publish stock.created');
      expect(ancestorsOf(publish as ReceivedSpan)).toContain(server);

      const consume = spans.find(
        (span) => span.kind === SPAN_KIND.consumer && span.name.startsWith('webhooks'),
      );
      expect(consume?.parentSpanId).toBe(publish?.spanId);

      const delivery = byId.get(deliveredSpanId as string);
      expect(delivery?.name).toBe('webhook deliver');
      expect(delivery?.kind).toBe(SPAN_KIND.client);
      expect(ancestorsOf(delivery as ReceivedSpan)).toContain(server);
    });

    it("runs coalesced reservations in one span per batch: a child of one request's trace, linked to the others", async () => {
      const { request, createStore, createProduct, stock } = harness();
      const store = await createStore();
      const product = await createProduct();
      await stock(product.id, store, 100);
      const traceIds = Array.from({ length: 12 }, () => randomHex(16));
      const responses = await Promise.all(
        traceIds.map((traceId, index) =>
          request('POST', '/api/v1/reservations', {
            body: { product_id: product.id, store_id: store, quantity: 1, customer_id: `traced-${index}` },
            headers: { traceparent: `00-${traceId}-${randomHex(8)}-01` },
          }),
        ),
      );
      for (const response of responses) expect(response.status).toBe(201);

      let batches: ReceivedSpan[] = [];
      await waitUntil('every request is in an exported batch span', async () => {
        await tracing.flush();
        batches = collector.spans.filter(
          (span) => span.name === 'reservations.batch' && traceIds.includes(span.traceId),
        );
        const served = new Set(
          batches.flatMap((batch) => [batch.traceId, ...batch.links.map((link) => link.traceId)]),
        );
        return traceIds.every((traceId) => served.has(traceId));
      });
      // Requests that piled up behind the first batch shared one: it links to every request but its
      // parent's. PGlite runs every statement on its one connection, so each request's own reads
      // queue behind the running batch and reach the reservation queue after it: no batch to share.
      if (harness().kind === 'postgres') expect(batches.some((batch) => batch.links.length > 0)).toBe(true);
      for (const batch of batches) {
        expect(batch.parentSpanId).toBeDefined();
        expect(Number(batch.attributes['omnistock.batch.size'])).toBe(1 + batch.links.length);
        for (const link of batch.links) expect(traceIds).toContain(link.traceId);
      }
    });

    it('starts a new trace when the caller sends none, and drops a malformed traceparent', async () => {
      const { request } = harness();
      const response = await request('GET', '/api/v1/stores', { headers: { traceparent: 'not-a-trace' } });
      expect(response.status).toBe(200);
      let server: ReceivedSpan | undefined;
      await waitUntil('the request span is exported', async () => {
        await tracing.flush();
        server = collector.spans.find(
          (span) => span.kind === SPAN_KIND.server && span.name === 'GET /api/v1/stores',
        );
        return server !== undefined;
      });
      expect(server?.parentSpanId).toBeUndefined();
      expect(server?.traceId).toMatch(/^[0-9a-f]{32}$/);
    });
  },
  { webhookAllowPrivateTargets: true },
);
