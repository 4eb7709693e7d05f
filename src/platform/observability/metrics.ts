import client from 'prom-client';

/** Every metric name starts with this; units are in the names, as Prometheus conventions ask. */
const PREFIX = 'omnistock_';
const HTTP_DURATION_BUCKETS_SECONDS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface BacklogSource {
  backlog(): Promise<{ pending: number; oldestPendingAgeSeconds: number }>;
}

import type { BreakerState } from '../breaker-state.js';

export type { BreakerState };

export interface BreakerReading {
  dependency: string;
  state: BreakerState;
}

export interface CacheCounts {
  readonly hits: number;
  readonly misses: number;
  /** Served past freshness because the source was unreachable. */
  readonly staleHits: number;
}

/**
 * The service's Prometheus registry. Values that live elsewhere (outbox backlog, cache counters,
 * breaker state) are read when scraped, so the code that owns them needs no metrics dependency.
 * Labels are bounded: route templates, never raw paths or ids.
 */
export class Metrics {
  readonly registry = new client.Registry();
  readonly httpRequestDuration: client.Histogram<'method' | 'route' | 'status_code'>;
  readonly brokerPublishes: client.Counter<'broker' | 'result'>;
  readonly stockOperations: client.Counter<'operation' | 'store' | 'outcome'>;
  readonly reservations: client.Counter<'outcome'>;
  readonly webhookDeliveries: client.Counter<'result'>;

  #backlogRead: Promise<{ pending: number; oldestPendingAgeSeconds: number }> | undefined;

  constructor(sources: {
    backlog: BacklogSource;
    cache: { name: string; counts: CacheCounts };
    /** Every circuit breaker, one entry per dependency (a fixed, small set). */
    breakers: () => readonly BreakerReading[];
    /** Webhook endpoints whose circuit is open now, all tenants together (one bounded series). */
    openWebhookCircuits: () => Promise<number>;
  }) {
    client.collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
    // Both backlog gauges are collected in one scrape: they share one query.
    const readBacklog = () => {
      this.#backlogRead ??= sources.backlog.backlog().finally(() => {
        this.#backlogRead = undefined;
      });
      return this.#backlogRead;
    };
    this.httpRequestDuration = new client.Histogram({
      name: `${PREFIX}http_request_duration_seconds`,
      help: 'HTTP request duration by method, route template and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: HTTP_DURATION_BUCKETS_SECONDS,
      registers: [this.registry],
    });
    this.brokerPublishes = new client.Counter({
      name: `${PREFIX}broker_publishes_total`,
      help: 'Outbox events handed to the broker, by result (acknowledged or failed)',
      labelNames: ['broker', 'result'],
      registers: [this.registry],
    });
    new client.Gauge({
      name: `${PREFIX}outbox_pending_events`,
      help: 'Committed events the broker has not acknowledged yet',
      registers: [this.registry],
      async collect() {
        this.set((await readBacklog()).pending);
      },
    });
    new client.Gauge({
      name: `${PREFIX}outbox_oldest_pending_age_seconds`,
      help: 'Age of the oldest event the broker has not acknowledged (0 when none)',
      registers: [this.registry],
      async collect() {
        this.set((await readBacklog()).oldestPendingAgeSeconds);
      },
    });
    new client.Counter({
      name: `${PREFIX}cache_requests_total`,
      help: 'Read-cache lookups, by result',
      labelNames: ['cache', 'result'],
      registers: [this.registry],
      collect() {
        // The cache counts; the counter mirrors its totals when scraped.
        this.reset();
        this.inc({ cache: sources.cache.name, result: 'hit' }, sources.cache.counts.hits);
        this.inc({ cache: sources.cache.name, result: 'miss' }, sources.cache.counts.misses);
        this.inc({ cache: sources.cache.name, result: 'stale' }, sources.cache.counts.staleHits);
      },
    });
    new client.Gauge({
      name: `${PREFIX}circuit_breaker_state`,
      help: 'Circuit breaker state per dependency: 0 closed, 1 half-open, 2 open (webhook_endpoints: 2 if any is open)',
      labelNames: ['dependency'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const { dependency, state } of sources.breakers()) {
          this.set(
            { dependency },
            state === 'open' || state === 'isolated' ? 2 : state === 'half-open' ? 1 : 0,
          );
        }
        // Webhook receivers are the tenants' own, unbounded in number: one aggregated series.
        this.set({ dependency: 'webhook_endpoints' }, (await sources.openWebhookCircuits()) > 0 ? 2 : 0);
      },
    });
    new client.Gauge({
      name: `${PREFIX}webhook_endpoints_circuit_open`,
      help: 'Webhook endpoints (all tenants) whose circuit breaker is open now',
      registers: [this.registry],
      async collect() {
        this.set(await sources.openWebhookCircuits());
      },
    });
    this.stockOperations = new client.Counter({
      name: `${PREFIX}stock_operations_total`,
      help: 'Stock writes by operation, store and outcome (ok or the error code)',
      labelNames: ['operation', 'store', 'outcome'],
      registers: [this.registry],
    });
    this.reservations = new client.Counter({
      name: `${PREFIX}reservations_total`,
      help: 'Reservations by outcome: created, rejected, confirmed, cancelled, expired',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    this.webhookDeliveries = new client.Counter({
      name: `${PREFIX}webhook_deliveries_total`,
      help: 'Webhook delivery attempts by result: succeeded, failed (will retry), dead (will not)',
      labelNames: ['result'],
      registers: [this.registry],
    });
    // Both series exist from the start, so rate() and alerts see a zero rather than nothing.
    for (const outcome of ['created', 'rejected', 'confirmed', 'cancelled', 'expired']) {
      this.reservations.inc({ outcome }, 0);
    }
    for (const result of ['succeeded', 'failed', 'dead']) this.webhookDeliveries.inc({ result }, 0);
  }

  /** The exposition text; prom-client's `nodejs_active_*_total` gauges are dropped, since promtool rejects a gauge named `_total`. */
  async exposition(): Promise<string> {
    const text = await this.registry.metrics();
    return text
      .split('\n')
      .filter((line) => !/nodejs_active_[a-z_]*_total/.test(line))
      .join('\n');
  }
}
