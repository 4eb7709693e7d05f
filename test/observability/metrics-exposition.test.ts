import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import { describeOnEachDatabase } from '../support/test-app.js';
import { resetWebhooks, WebhookReceiver, waitUntil } from '../webhooks/webhook-receiver.js';

/** promtool ships with Prometheus; CI installs it (.ci/run). Locally its tests skip, visibly, without it. */
const promtoolFound = spawnSync('promtool', ['--version']).status === 0;
const promtoolRequired = process.env['OMNISTOCK_REQUIRE_SERVICES'] === '1';
if (!promtoolFound && promtoolRequired) {
  throw new Error('promtool is required (OMNISTOCK_REQUIRE_SERVICES=1) but was not found on PATH');
}

function promtool(args: string[], input?: string): { status: number | null; output: string } {
  const run = spawnSync('promtool', args, { input, encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

const DASHBOARD = 'deploy/grafana/omnistock-dashboard.json';

interface Dashboard {
  panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }>;
}

/** Every metric name a dashboard query reads. */
function queriedMetrics(dashboard: Dashboard): Set<string> {
  const names = new Set<string>();
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) {
      for (const match of target.expr.matchAll(/\bomnistock_[a-z0-9_]+/g)) names.add(match[0]);
    }
  }
  return names;
}

describeOnEachDatabase(
  'metrics exposition',
  (harness) => {
    beforeEach(async () => {
      await resetWebhooks(harness().db);
    });

    it('counts stock operations, reservations and webhook deliveries, and passes promtool; the dashboard reads only metrics that exist', async () => {
      const { request, createStore, createProduct, stock } = harness();
      const target = await WebhookReceiver.start();
      try {
        const registered = await request('POST', '/api/v1/webhooks', {
          body: { url: target.url, event_types: ['stock.created'] },
        });
        expect(registered.status).toBe(201);
        const store = await createStore('MET-001');
        const product = await createProduct();
        await stock(product.id, store, 5);
        const refused = await request('POST', `/api/v1/stock/${product.id}/${store}/adjust`, {
          body: { quantity_change: -50, reason: 'CORRECTION' },
        });
        expect(refused.status).toBe(409);
        const reserved = await request('POST', '/api/v1/reservations', {
          body: { product_id: product.id, store_id: store, quantity: 2, customer_id: 'c-1' },
        });
        expect(reserved.status).toBe(201);
        const rejected = await request('POST', '/api/v1/reservations', {
          body: { product_id: product.id, store_id: store, quantity: 99, customer_id: 'c-2' },
        });
        expect(rejected.status).toBe(409);
        const confirmed = await request(
          'POST',
          `/api/v1/reservations/${reserved.body.reservation_id}/confirm`,
        );
        expect(confirmed.status).toBe(200);
        // Settling again changes nothing, and counts nothing.
        const confirmedAgain = await request(
          'POST',
          `/api/v1/reservations/${reserved.body.reservation_id}/confirm`,
        );
        expect(confirmedAgain.status).toBe(200);
        const toCancel = await request('POST', '/api/v1/reservations', {
          body: { product_id: product.id, store_id: store, quantity: 1, customer_id: 'c-3' },
        });
        expect(toCancel.status).toBe(201);
        for (let attempt = 0; attempt < 2; attempt += 1) {
          const cancelled = await request(
            'POST',
            `/api/v1/reservations/${toCancel.body.reservation_id}/cancel`,
          );
          expect(cancelled.status).toBe(200);
        }
        await request('GET', '/api/v1/no-such-route');
        await waitUntil('the webhook is delivered', async () => {
          const text = String((await request('GET', '/metrics', { key: null })).body);
          return /^omnistock_webhook_deliveries_total\{result="succeeded"\} [1-9]/m.test(text);
        });

        const text = String((await request('GET', '/metrics', { key: null })).body);
        expect(text).toMatch(
          /^omnistock_stock_operations_total\{operation="initialise",store="MET-001",outcome="ok"\} 1$/m,
        );
        expect(text).toMatch(
          /^omnistock_stock_operations_total\{operation="adjust",store="MET-001",outcome="INSUFFICIENT_STOCK"\} 1$/m,
        );
        expect(text).toMatch(/^omnistock_reservations_total\{outcome="created"\} 2$/m);
        expect(text).toMatch(/^omnistock_reservations_total\{outcome="rejected"\} 1$/m);
        expect(text).toMatch(/^omnistock_reservations_total\{outcome="confirmed"\} 1$/m);
        expect(text).toMatch(/^omnistock_reservations_total\{outcome="cancelled"\} 1$/m);
        expect(text).toMatch(/^omnistock_reservations_total\{outcome="expired"\} 0$/m);
        expect(text).toMatch(/^omnistock_webhook_deliveries_total\{result="dead"\} 0$/m);
        expect(text).toMatch(/^omnistock_circuit_breaker_state\{dependency="broker_memory"\} 0$/m);
        expect(text).toMatch(/^omnistock_circuit_breaker_state\{dependency="webhook_endpoints"\} 0$/m);
        expect(text).toMatch(/^omnistock_webhook_endpoints_circuit_open 0$/m);
        expect(text).toContain('route="unmatched"');
        expect(text).not.toContain('no-such-route');

        const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
        const missing = [...queriedMetrics(dashboard)].filter(
          (name) => !new RegExp(`^${name}[{ ]`, 'm').test(text),
        );
        expect(missing).toEqual([]);

        if (promtoolFound) {
          const checked = promtool(['check', 'metrics'], text);
          expect(checked.output).toBe('');
          expect(checked.status).toBe(0);
        }
      } finally {
        await target.close();
      }
    });
  },
  { webhookAllowPrivateTargets: true },
);

describe.skipIf(!promtoolFound)('alerting rules (promtool)', () => {
  it('are valid', () => {
    const checked = promtool(['check', 'rules', 'deploy/prometheus/alerts.yml']);
    expect(checked.output).toContain('SUCCESS');
    expect(checked.status).toBe(0);
  });

  it('pass their unit tests', () => {
    const tested = promtool(['test', 'rules', 'deploy/prometheus/alerts.test.yml']);
    expect(tested.output).toContain('SUCCESS');
    expect(tested.status).toBe(0);
  });
});

describe('the Grafana dashboard', () => {
  it('parses and covers the golden signals and the business figures', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
    const metrics = queriedMetrics(dashboard);
    for (const name of [
      'omnistock_http_request_duration_seconds_bucket',
      'omnistock_nodejs_eventloop_lag_p99_seconds',
      'omnistock_process_resident_memory_bytes',
      'omnistock_process_cpu_seconds_total',
      'omnistock_stock_operations_total',
      'omnistock_reservations_total',
      'omnistock_outbox_pending_events',
      'omnistock_outbox_oldest_pending_age_seconds',
      'omnistock_broker_publishes_total',
      'omnistock_webhook_deliveries_total',
      'omnistock_circuit_breaker_state',
      'omnistock_cache_requests_total',
    ]) {
      expect(metrics).toContain(name);
    }
  });
});
