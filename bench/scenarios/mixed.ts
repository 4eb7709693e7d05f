import type { DatabaseKind } from '../support/database.js';
import { runLoad } from '../support/load.js';
import { atLeast, below, loadJob, type ScenarioResult } from '../support/scenario.js';
import { startServiceProcess } from '../support/service-process.js';
import { benchDatabase } from '../support/template.js';

/**
 * The fixed rate, as evenly spaced arrivals (one request every millisecond): the figure is
 * the latency at it, not the most the service can do.
 */
const REQUESTS_PER_SECOND = 1_000;
/** Enough connections that a 100 ms answer still leaves the rate reachable (1,000/s × 0.1 s). */
const CONNECTIONS = 100;
const P95_MAXIMUM_MS = 50;
const PEAK_RSS_MAXIMUM_MIB = 256;
/**
 * Long enough for the warm-up's climb to the rate (see the load worker) to reach a steady state:
 * JIT-compiled code, a filled availability cache, every pool connection open.
 */
const WARM_UP_SECONDS = 8;
/** The rate counts as held when at least this share of it was answered. */
const RATE_HELD_SHARE = 0.95;

/**
 * 80 % reads, 15 % reservations and confirms, 5 % restocks at a fixed 1,000 requests/s: the p95 and
 * the service's peak resident memory at that rate. An absolute target, so no ceiling.
 */
export async function mixed(kind: DatabaseKind): Promise<ScenarioResult> {
  const { database, seeds } = await benchDatabase(kind);
  try {
    const service = await startServiceProcess(database);
    const seeded = seeds.mixed;
    let measured: Awaited<ReturnType<typeof runLoad>>;
    try {
      measured = await runLoad(
        loadJob(
          service.url,
          { kind: 'mixed', levels: seeded.levels },
          // Evenly spaced: autocannon's own rate limit sends each connection's share of a second
          // in a burst at its start, and the figure would be the burst's queue, not the rate's.
          {
            connections: CONNECTIONS,
            overall_rate: REQUESTS_PER_SECOND,
            pacing: 'uniform',
            warm_up_seconds: WARM_UP_SECONDS,
          },
        ),
        service.pid,
      );
    } finally {
      await service.stop();
    }
    const { run } = measured;
    return {
      scenario: 'mixed',
      database: kind,
      load: run,
      service: measured.target,
      per_second: run.requests_per_second,
      ratios: {
        'requests/s ÷ asked rate': Math.round((run.requests_per_second / REQUESTS_PER_SECOND) * 100) / 100,
      },
      targets: [
        atLeast(
          'rate held (req/s)',
          run.requests_per_second,
          Math.round(REQUESTS_PER_SECOND * RATE_HELD_SHARE),
        ),
        below('p95', run.latency.p95_ms, P95_MAXIMUM_MS, ' ms'),
        below('service peak RSS', measured.target.peak_rss_mib, PEAK_RSS_MAXIMUM_MIB, ' MiB'),
        below('errors', run.non_2xx + run.socket_errors, 1),
      ],
    };
  } finally {
    await database.drop();
  }
}
