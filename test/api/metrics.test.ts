import { expect, it } from 'vitest';
import { describeOnEachDatabase } from '../support/test-app.js';

describeOnEachDatabase('Prometheus metrics', (harness) => {
  it('exposes the outbox backlog, broker publishes, cache lookups and request durations by route template', async () => {
    const { request, createStore, createProduct, stock } = harness();
    const store = await createStore();
    const product = await createProduct();
    await stock(product.id, store, 5);
    // The stock events reach the event-log tail a moment later and may drop the first cached view:
    // read until one read is served from the cache (bounded).
    let response = await request('GET', '/metrics', { key: null });
    for (let attempt = 0; attempt < 40 && !/result="hit"\} [1-9]/.test(String(response.body)); attempt += 1) {
      await request('GET', `/api/v1/products/${product.id}/availability`, { key: null });
      await request('GET', `/api/v1/products/${product.id}/availability`, { key: null });
      await new Promise((resolve) => setTimeout(resolve, 25));
      response = await request('GET', '/metrics', { key: null });
    }
    expect(response.status).toBe(200);
    expect(String(response.headers['content-type'])).toContain('text/plain');
    const text = String(response.body);
    expect(text).toMatch(/^omnistock_outbox_pending_events \d+$/m);
    expect(text).toMatch(/^omnistock_outbox_oldest_pending_age_seconds [\d.]+$/m);
    expect(text).toMatch(/^omnistock_cache_requests_total\{cache="memory",result="hit"\} [1-9]\d*$/m);
    expect(text).toMatch(/^omnistock_circuit_breaker_state\{dependency="broker_memory"\} 0$/m);
    expect(text).toContain(
      'omnistock_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/products/:productId/availability",status_code="200"}',
    );
    expect(text).toContain('omnistock_process_resident_memory_bytes');
    // Raw ids never become label values: cardinality stays bounded.
    expect(text).not.toContain(product.id);
    expect(text).not.toMatch(/nodejs_active_[a-z_]*_total/);
  });

  it('counts each request once in the request duration histogram', async () => {
    const { request, createProduct } = harness();
    const product = await createProduct();
    const path = `/api/v1/products/${product.id}`;
    const countOf = async () => {
      const text = String((await request('GET', '/metrics', { key: null })).body);
      const line = text
        .split('\n')
        .find(
          (candidate) =>
            candidate.startsWith('omnistock_http_request_duration_seconds_count{') &&
            candidate.includes('method="GET",route="/api/v1/products/:productId",status_code="200"'),
        );
      return line === undefined ? 0 : Number(line.split(' ').pop());
    };
    const before = await countOf();
    for (let made = 0; made < 3; made += 1) expect((await request('GET', path)).status).toBe(200);
    expect(await countOf()).toBe(before + 3);
  });
});
