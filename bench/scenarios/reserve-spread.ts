import type { DatabaseKind } from '../support/database.js';
import { runLoad } from '../support/load.js';
import {
  atLeast,
  bareUpdateCeiling,
  CLIENTS,
  LOAD_SECONDS,
  loadJob,
  ratio,
  type ScenarioResult,
} from '../support/scenario.js';
import { BENCH_TENANT } from '../support/seed.js';
import { startServiceProcess } from '../support/service-process.js';
import { runSqlLoad } from '../support/sql-load.js';
import { benchDatabase } from '../support/template.js';

const RATIO_MINIMUM = 0.4;

/**
 * POST /reservations of one unit on a random one of 10,000 levels from 64 clients; the ceiling is
 * the conditional UPDATE alone on the same database and the same levels, from 64 pg clients.
 */
export async function reserveSpread(kind: DatabaseKind): Promise<ScenarioResult> {
  const { database, seeds } = await benchDatabase(kind);
  try {
    const service = await startServiceProcess(database);
    const seeded = seeds.spread;
    let measured: Awaited<ReturnType<typeof runLoad>>;
    try {
      measured = await runLoad(loadJob(service.url, { kind: 'reserve', levels: seeded.levels }), service.pid);
    } finally {
      await service.stop();
    }
    const bare = await runSqlLoad({
      mode: 'bare-update',
      database: { kind, url: database.url, pgliteDir: database.pgliteDir },
      tenant_id: BENCH_TENANT,
      levels: seeded.levels,
      clients: CLIENTS,
      warm_up_seconds: 1,
      duration_seconds: LOAD_SECONDS,
    });
    const reserved = measured.run.status_counts['201'] ?? 0;
    const perSecond = Math.round(reserved / measured.run.duration_seconds);
    const share = ratio(perSecond, bare.transactions_per_second);
    return {
      scenario: 'reserve-spread',
      database: kind,
      load: measured.run,
      service: measured.target,
      per_second: perSecond,
      ceiling: bareUpdateCeiling(bare),
      ratios: { 'reservations/s ÷ bare UPDATE tx/s': share },
      targets: [
        atLeast('reservations/s ÷ bare UPDATE tx/s', share, RATIO_MINIMUM),
        atLeast('share of requests answered 201', ratio(reserved, measured.run.requests), 1),
      ],
    };
  } finally {
    await database.drop();
  }
}
