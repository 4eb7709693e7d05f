import { startBareRoute } from '../support/bare-route.js';
import type { DatabaseKind } from '../support/database.js';
import { runLoad } from '../support/load.js';
import { atLeast, below, loadJob, ratio, type ScenarioResult } from '../support/scenario.js';

import { BENCH_ADMIN_KEY } from '../support/service.js';
import { startServiceProcess } from '../support/service-process.js';
import { benchDatabase } from '../support/template.js';

/** Parallel requests that fill the read cache before the load. */
const CACHE_FILL_CONCURRENCY = 16;
const RATIO_MINIMUM = 0.5;
const P99_MAXIMUM_MS = 20;

/**
 * GET /products/{id}/availability for 1,000 products in 5 stores each, the read cache warmed by the
 * warm-up; the ceiling is the framework's bare JSON route under the same load generator settings.
 */
export async function availability(kind: DatabaseKind): Promise<ScenarioResult> {
  const { database, seeds } = await benchDatabase(kind);
  try {
    const service = await startServiceProcess(database);
    const seeded = seeds.availability;
    let measured: Awaited<ReturnType<typeof runLoad>>;
    try {
      await fillCache(service.url, seeded.product_ids);
      measured = await runLoad(
        loadJob(service.url, { kind: 'availability', product_ids: seeded.product_ids }),
        service.pid,
      );
    } finally {
      await service.stop();
    }
    const bare = await startBareRoute();
    let ceiling: Awaited<ReturnType<typeof runLoad>>;
    try {
      ceiling = await runLoad(loadJob(bare.url, { kind: 'bare' }), bare.pid);
    } finally {
      await bare.stop();
    }
    const share = ratio(measured.run.requests_per_second, ceiling.run.requests_per_second);
    return {
      scenario: 'availability',
      database: kind,
      load: measured.run,
      service: measured.target,
      per_second: measured.run.requests_per_second,
      ceiling: {
        name: 'bare-route',
        per_second: ceiling.run.requests_per_second,
        p99_ms: ceiling.run.latency.p99_ms,
        run: ceiling.run,
        process: ceiling.target,
      },
      ratios: { 'requests/s ÷ bare route': share },
      targets: [
        atLeast('req/s ÷ bare route', share, RATIO_MINIMUM),
        below('p99', measured.run.latency.p99_ms, P99_MAXIMUM_MS, ' ms'),
        below('errors', measured.run.non_2xx + measured.run.socket_errors, 1),
      ],
    };
  } finally {
    await database.drop();
  }
}

/**
 * Every product's view read once, so the load meets a warm cache: the warm-up alone would not reach
 * all 1,000 products on a slow machine. Entries live CACHE_TTL_SECONDS (30 s), longer than the load.
 */
async function fillCache(base: string, productIds: readonly string[]): Promise<void> {
  const queue = [...productIds];
  await Promise.all(
    Array.from({ length: CACHE_FILL_CONCURRENCY }, async () => {
      for (let productId = queue.pop(); productId !== undefined; productId = queue.pop()) {
        const response = await fetch(`${base}/api/v1/products/${productId}/availability`, {
          headers: { 'x-api-key': BENCH_ADMIN_KEY },
        });
        if (response.status !== 200)
          throw new Error(`availability of ${productId} answered ${response.status}`);
        await response.arrayBuffer();
      }
    }),
  );
}
