import { createConnection } from 'node:net';
import type { Broker, BrokerMessage } from '../../src/platform/events/broker.js';
import { createBroker } from '../../src/platform/events/create-broker.js';
import { newId } from '../../src/platform/ids.js';
import type { BrokerUrls } from '../support/broker-servers.js';
import type { DatabaseKind } from '../support/database.js';
import { runLoad } from '../support/load.js';
import { loadJob, numberFromEnvironment } from '../support/scenario.js';
import { BENCH_ADMIN_KEY, call } from '../support/service.js';
import { startServiceProcess } from '../support/service-process.js';
import { atRate, type LatencySummary, round, summarise, waitUntil } from '../support/stats.js';
import { benchDatabase } from '../support/template.js';

/** The load: changes per second, for this long, per broker. */
const CHANGES_PER_SECOND = numberFromEnvironment('BENCH_CHANGES_PER_SECOND', 200, 1);
const DURATION_MS = 8_000;
const DURATION_SECONDS = DURATION_MS / 1000;
/**
 * The same load, unmeasured, before the measured run: a fresh process compiles its hot paths and
 * opens its pool connections in its first second, which would otherwise be most of the tail.
 */
const WARM_UP_SECONDS = 2;
/** Enough connections for the rate however slow an answer gets; the rate, not they, sets the load. */
const SALE_CONNECTIONS = 16;

interface Sample {
  /** The event's own time: when the change was written, just before its commit. */
  eventTime: number;
  latencyMs: number;
}

function sampleOf(time: string): Sample {
  const eventTime = Date.parse(time);
  return { eventTime, latencyMs: Date.now() - eventTime };
}
const DRAIN_TIMEOUT_MS = 15_000;
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

export interface EventLatencyRow {
  broker: string;
  database: string;
  changes: number;
  /** The change requests themselves: how loaded the service is while it streams. */
  change_request: LatencySummary;
  commit_to_sse: LatencySummary;
  commit_to_subscriber: LatencySummary;
  bare_publish_to_subscribe: LatencySummary;
  /** p99 of commit → subscriber (SSE for the in-process broker) over p99 of the bare broker. */
  p99_over_bare_p99: number;
}

async function reachable(url: string | undefined): Promise<boolean> {
  if (url === undefined) return true;
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname, port: Number(port) });
    socket.setTimeout(1_000);
    socket.once('connect', () => resolve(socket.end() !== undefined));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => resolve(socket.destroy() !== undefined && false));
  });
}

function brokerFor(url: string | undefined): Broker {
  return createBroker(url, { connectTimeoutMs: 5_000, publishTimeoutMs: 5_000, logger: quiet });
}

/** The broker alone: publish → group consumer, at the same rate, timestamps in the payload. */
async function bareLatency(url: string | undefined): Promise<LatencySummary> {
  const publisher = brokerFor(url);
  const consumer = url === undefined ? publisher : brokerFor(url);
  await publisher.connect();
  if (consumer !== publisher) await consumer.connect();
  const samples: number[] = [];
  const group = `bench-bare-${newId()}`;
  const subscription = await consumer.consume(group, async (message) => {
    samples.push(
      performance.timeOrigin + performance.now() - (message.envelope.data as { sent_at: number }).sent_at,
    );
  });
  let sent = 0;
  await atRate(CHANGES_PER_SECOND, DURATION_MS, async (index) => {
    const message: BrokerMessage = {
      id: newId(),
      subject: 'inventory.bench.bench.probe._',
      sequence: index + 1,
      headers: {},
      envelope: {
        specversion: '1.0',
        id: newId(),
        source: '/bench',
        type: 'bench.probe',
        subject: 'bench',
        time: new Date().toISOString(),
        datacontenttype: 'application/json',
        tenantid: 'bench',
        correlationid: 'bench',
        data: { sent_at: performance.timeOrigin + performance.now() },
      },
    };
    sent += 1;
    await publisher.publish([message]);
  });
  await waitUntil(() => samples.length >= sent, DRAIN_TIMEOUT_MS);
  await subscription.close();
  // A durable group left behind would be written every later message, and slow every later run.
  await consumer.removeGroup(group);
  await publisher.close();
  if (consumer !== publisher) await consumer.close();
  return summarise(samples);
}

/** Through the service: HTTP change → commit → relay → broker → subscriber, and → SSE client. */
async function serviceLatency(kind: DatabaseKind, brokerName: string, url: string | undefined) {
  const { database } = await benchDatabase(kind);
  const service = await startServiceProcess(database, { BROKER_URL: url }).catch(async (error: unknown) => {
    await database.drop();
    throw error;
  });
  const base = service.url;
  try {
    const store = 'BENCH-001';
    await call(base, 'POST', '/api/v1/stores', { id: store, name: 'Bench' });
    const products: string[] = [];
    for (let index = 0; index < 20; index += 1) {
      const product = await call(base, 'POST', '/api/v1/products', {
        sku: `BENCH-${index}`,
        name: 'Bench',
        price_minor: 100,
        currency: 'EUR',
      });
      products.push(product.body.id);
      await call(base, 'POST', '/api/v1/stock', {
        product_id: product.body.id,
        store_id: store,
        quantity: 1_000_000,
      });
    }
    // Each sample is kept with its event's time: only changes made once the measured load began count.
    const subscriberSamples: Sample[] = [];
    const sseSamples: Sample[] = [];
    // The in-process broker has no outside subscriber: its figure is commit → SSE only.
    const subscriberBroker = url === undefined ? undefined : brokerFor(url);
    await subscriberBroker?.connect();
    const subscriberGroup = `bench-subscriber-${newId()}`;
    const subscription = await subscriberBroker?.consume(subscriberGroup, async (message) => {
      if (message.envelope.type !== 'stock.updated') return;
      subscriberSamples.push(sampleOf(message.envelope.time));
    });
    const abort = new AbortController();
    const sse = await fetch(`${base}/api/v1/events/stream?type=stock.updated`, {
      headers: { 'x-api-key': BENCH_ADMIN_KEY },
      signal: abort.signal,
    });
    const reading = (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of sse.body as ReadableStream<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let boundary = buffer.indexOf('\n\n');
          while (boundary !== -1) {
            const block = buffer.slice(0, boundary);
            buffer = buffer.slice(boundary + 2);
            const data = block.split('\n').find((line) => line.startsWith('data: '));
            if (data !== undefined) sseSamples.push(sampleOf(JSON.parse(data.slice(6)).time));
            boundary = buffer.indexOf('\n\n');
          }
        }
      } catch {
        // aborted at the end of the run
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The changes come from the load worker, a process of its own: this one only receives, so its
    // event loop adds nothing to the latencies it measures.
    let measuringSince = Number.POSITIVE_INFINITY;
    const { run } = await runLoad(
      loadJob(
        base,
        { kind: 'sale', levels: products.map((product) => [product, store] as const) },
        {
          connections: SALE_CONNECTIONS,
          overall_rate: CHANGES_PER_SECOND,
          pacing: 'uniform',
          warm_up_seconds: WARM_UP_SECONDS,
          duration_seconds: DURATION_SECONDS,
        },
      ),
      service.pid,
      () => {
        measuringSince = Date.now();
      },
    );
    const changes = run.status_counts['200'] ?? 0;
    const measuredOf = (samples: readonly Sample[]) =>
      samples.filter((sample) => sample.eventTime >= measuringSince).map((sample) => sample.latencyMs);
    await waitUntil(
      () =>
        (subscriberBroker === undefined || measuredOf(subscriberSamples).length >= changes) &&
        measuredOf(sseSamples).length >= changes,
      DRAIN_TIMEOUT_MS,
    );
    abort.abort();
    await reading;
    await subscription?.close();
    await subscriberBroker?.removeGroup(subscriberGroup);
    await subscriberBroker?.close();
    return {
      database: service.database,
      changes,
      sse: summarise(measuredOf(sseSamples)),
      request: run.latency,
      subscriber: summarise(measuredOf(subscriberSamples)),
      broker: brokerName,
    };
  } finally {
    await service.stop();
    await database.drop();
  }
}

export async function eventLatency(
  kind: DatabaseKind,
  brokerUrls: BrokerUrls,
  only: readonly string[] | undefined,
): Promise<EventLatencyRow[]> {
  const rows: EventLatencyRow[] = [];
  for (const [broker, url] of Object.entries(brokerUrls)) {
    if (only !== undefined && !only.includes(broker)) continue;
    if (!(await reachable(url))) {
      process.stdout.write(`event-latency: ${broker} skipped (no server at ${url})\n`);
      continue;
    }
    process.stdout.write(`event-latency: ${kind}, ${broker} …\n`);
    const bare = await bareLatency(url);
    const measured = await serviceLatency(kind, broker, url);
    rows.push({
      broker,
      database: measured.database,
      changes: measured.changes,
      change_request: measured.request,
      commit_to_sse: measured.sse,
      commit_to_subscriber: measured.subscriber,
      bare_publish_to_subscribe: bare,
      p99_over_bare_p99: round(
        (measured.subscriber.count > 0 ? measured.subscriber.p99_ms : measured.sse.p99_ms) /
          Math.max(bare.p99_ms, 0.01),
      ),
    });
  }
  return rows;
}
