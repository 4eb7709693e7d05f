import { startBareRoute } from '../support/bare-route.js';
import type { DatabaseKind } from '../support/database.js';
import { type InterleavedLoad, runInterleaved } from '../support/interleave.js';
import {
  atLeast,
  below,
  LOAD_SECONDS,
  loadJob,
  ratio,
  type ScenarioResult,
  WARM_UP_SECONDS,
} from '../support/scenario.js';
import { BENCH_ADMIN_KEY } from '../support/service.js';
import { startServiceProcess } from '../support/service-process.js';
import { round } from '../support/stats.js';
import { benchDatabase } from '../support/template.js';

/** Parallel requests that fill the read cache before the load. */
const CACHE_FILL_CONCURRENCY = 16;
const RATIO_MINIMUM = 0.5;
const P99_MAXIMUM_MS = 20;
/**
 * The read cache's freshness for this run: longer than everything after the fill (two warm-ups, two
 * loads, and a load worker's start and lead-in per slice), so that every measured read meets a warm
 * cache. With the default 30 s, the views filled first expired during the interleaved slices, and
 * the slice that met them answered at half the rate of the others.
 */
const CACHE_TTL_SECONDS = Math.min(3_600, 2 * (WARM_UP_SECONDS + LOAD_SECONDS) + 120);

/**
 * GET /products/{id}/availability for 1,000 products in 5 stores each, the read cache warmed by the
 * warm-up; the ceiling is the framework's bare JSON route under the same load generator settings,
 * measured in slices that alternate with the service's (see interleave.ts).
 */
export async function availability(kind: DatabaseKind): Promise<ScenarioResult> {
  const { database, seeds } = await benchDatabase(kind);
  try {
    const service = await startServiceProcess(database, { CACHE_TTL_SECONDS: String(CACHE_TTL_SECONDS) });
    const seeded = seeds.availability;
    let measured: InterleavedLoad;
    let ceiling: InterleavedLoad;
    try {
      await fillCache(service.url, seeded.product_ids);
      const bare = await startBareRoute();
      try {
        [measured, ceiling] = await runInterleaved([
          {
            job: loadJob(service.url, { kind: 'availability', product_ids: seeded.product_ids }),
            pid: service.pid,
          },
          { job: loadJob(bare.url, { kind: 'bare' }), pid: bare.pid },
        ]);
      } finally {
        await bare.stop();
      }
    } finally {
      await service.stop();
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
      interleaved: {
        slice_seconds: round(measured.run.duration_seconds / measured.slice_rates.length),
        figure_rates: measured.slice_rates,
        ceiling_rates: ceiling.slice_rates,
        figure_p99_ms: measured.slice_p99_ms,
        ceiling_p99_ms: ceiling.slice_p99_ms,
      },
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
 * all 1,000 products on a slow machine. Entries live CACHE_TTL_SECONDS, longer than the loads.
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
