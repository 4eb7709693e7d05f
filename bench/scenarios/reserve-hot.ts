import type { BenchDatabase, DatabaseKind } from '../support/database.js';
import { runLoad } from '../support/load.js';
import type { Level } from '../support/load-protocol.js';
import {
  atLeast,
  bareUpdateCeiling,
  below,
  CLIENTS,
  LOAD_SECONDS,
  loadJob,
  ratio,
  type ScenarioResult,
  WARM_UP_SECONDS,
} from '../support/scenario.js';
import { BENCH_TENANT, withSession } from '../support/seed.js';
import { BENCH_ADMIN_KEY } from '../support/service.js';
import { startServiceProcess } from '../support/service-process.js';
import { runSqlLoad } from '../support/sql-load.js';
import type { SqlLoadMode, SqlLoadRun } from '../support/sql-load-protocol.js';
import { benchDatabase } from '../support/template.js';

/** The stock for the hot row; less when the warm-up shows it could not sell out within the run. */
const STOCK_MAXIMUM = 20_000;
const STOCK_MINIMUM = 100;
/** Sized to sell out at about this share of the run, so that the 409s after it are measured too. */
const SELL_OUT_SHARE = 0.6;
/** For the SQL-only runs after the API's: enough that the row never runs out while they last. */
const CEILING_STOCK = 100_000_000;
const BASELINE_MULTIPLE_MINIMUM = 5;
const BARE_MULTIPLE_MINIMUM = 3;
const P99_MAXIMUM_MS = 100;

interface LevelRow {
  quantity: number;
  reserved: number;
  available?: number;
}

/**
 * 64 clients all reserve one unit of the same product in the same store until it sells out; then
 * the API and SQL must agree that exactly the stock was sold. Ceiling: the conditional UPDATE alone
 * on that row from 64 pg clients. With `baseline`, also the seed design's pessimistic transaction.
 */
export async function reserveHot(
  kind: DatabaseKind,
  options: { baseline: boolean },
): Promise<ScenarioResult> {
  const { database, seeds } = await benchDatabase(kind);
  try {
    const service = await startServiceProcess(database);
    const seeded = seeds.hot;
    const [warmLevel, hotLevel] = seeded.levels as [Level, Level];
    const reserveJob = (level: Level, seconds: number) =>
      loadJob(
        service.url,
        { kind: 'reserve', levels: [level] },
        { warm_up_seconds: 0, duration_seconds: seconds },
      );
    let stock: number;
    let measured: Awaited<ReturnType<typeof runLoad>>;
    let apiLevel: LevelRow;
    try {
      const warm = await runLoad(reserveJob(warmLevel, WARM_UP_SECONDS), service.pid);
      const warmRate = (warm.run.status_counts['201'] ?? 0) / warm.run.duration_seconds;
      stock = Math.round(
        Math.min(STOCK_MAXIMUM, Math.max(STOCK_MINIMUM, warmRate * LOAD_SECONDS * SELL_OUT_SHARE)),
      );
      await countStock(service.url, hotLevel, stock);
      measured = await runLoad(reserveJob(hotLevel, LOAD_SECONDS), service.pid);
      apiLevel = await readLevel(service.url, hotLevel);
    } finally {
      await service.stop();
    }
    const sql = await withSession(database, async (session) => {
      const key = [BENCH_TENANT, hotLevel[0], hotLevel[1]];
      const [level] = await session.query<LevelRow>(
        'SELECT quantity, reserved FROM stock_levels WHERE tenant_id = $1 AND product_id = $2 AND store_id = $3',
        key,
      );
      const [reservations] = await session.query<{ count: number; units: number }>(
        `SELECT count(*)::int AS count, coalesce(sum(quantity), 0)::int AS units FROM reservations
          WHERE tenant_id = $1 AND product_id = $2 AND store_id = $3 AND status = 'PENDING'`,
        key,
      );
      return { level, reservations };
    });
    const created = measured.run.status_counts['201'] ?? 0;
    const refused = measured.run.status_counts['409'] ?? 0;
    const soldOutAtSeconds = (measured.run.last_2xx_at_ms ?? 0) / 1000;
    const soldOut = apiLevel.available === 0;
    const perSecond = Math.round(
      created / (soldOut && soldOutAtSeconds > 0 ? soldOutAtSeconds : measured.run.duration_seconds),
    );
    const checks = {
      stock,
      reserved_201: created,
      refused_409: refused,
      other_statuses: measured.run.requests - created - refused,
      socket_errors: measured.run.socket_errors,
      sold_out_after_seconds: soldOut ? soldOutAtSeconds : undefined,
      api_level: apiLevel,
      sql_level: sql.level,
      sql_pending_reservations: sql.reservations,
    };
    // Never more reserved than the stock, and the row, the API and the reservation rows agree.
    const noOversell =
      sql.level?.quantity === stock &&
      sql.level.reserved <= stock &&
      sql.reservations?.units === sql.level.reserved &&
      apiLevel.reserved === sql.level.reserved;
    // Every unit went to a client that got its 201, and the clients after it got 409s. A request
    // that timed out (a socket error) may have reserved without its client hearing of it.
    const exact =
      noOversell &&
      created === stock &&
      sql.level?.reserved === stock &&
      apiLevel.available === 0 &&
      refused > 0;
    const bare = await sqlRun(database, hotLevel, 'bare-update');
    const baseline = options.baseline ? await sqlRun(database, hotLevel, 'pessimistic') : undefined;
    const overBare = ratio(perSecond, bare.transactions_per_second);
    const overBaseline =
      baseline === undefined ? undefined : ratio(perSecond, baseline.transactions_per_second);
    return {
      scenario: 'reserve-hot',
      database: kind,
      load: measured.run,
      service: measured.target,
      per_second: perSecond,
      ceiling: bareUpdateCeiling(bare),
      ...(baseline === undefined ? {} : { baseline }),
      ratios: {
        'reservations/s ÷ bare UPDATE tx/s': overBare,
        ...(overBaseline === undefined ? {} : { 'reservations/s ÷ baseline reservations/s': overBaseline }),
      },
      checks,
      targets: [
        ...(overBaseline === undefined
          ? []
          : [atLeast('reservations/s ÷ baseline', overBaseline, BASELINE_MULTIPLE_MINIMUM, '×')]),
        atLeast('reservations/s ÷ bare UPDATE tx/s', overBare, BARE_MULTIPLE_MINIMUM, '×'),
        below('p99 of the 201s', measured.run.latency_2xx.p99_ms, P99_MAXIMUM_MS, ' ms'),
        {
          name: 'no oversell (SQL row, reservation rows and API agree)',
          target: `reserved ≤ ${stock}`,
          measured: `reserved ${sql.level?.reserved}, ${sql.reservations?.units} units in reservations`,
          met: noOversell,
        },
        {
          name: 'sold out exactly: 201s = stock = reserved, then 409s',
          target: `${stock} × 201, then 409`,
          measured: `${created} × 201, ${refused} × 409, ${checks.other_statuses} other, ${measured.run.socket_errors} socket errors`,
          met: exact && checks.other_statuses === 0,
        },
      ],
    };
  } finally {
    await database.drop();
  }
}

/** Sets the hot row's on-hand to `stock` through the API (a count), so that the ledger records it. */
async function countStock(base: string, [productId, storeId]: Level, stock: number): Promise<void> {
  const response = await fetch(`${base}/api/v1/stock/${productId}/${storeId}`, {
    method: 'PUT',
    headers: { 'x-api-key': BENCH_ADMIN_KEY, 'content-type': 'application/json', 'if-match': '*' },
    body: JSON.stringify({ quantity: stock, reason: 'COUNT' }),
  });
  if (response.status !== 200)
    throw new Error(`setting the hot row's stock answered ${response.status}: ${await response.text()}`);
}

async function readLevel(base: string, [productId, storeId]: Level): Promise<LevelRow> {
  const response = await fetch(`${base}/api/v1/stock/${productId}/${storeId}`, {
    headers: { 'x-api-key': BENCH_ADMIN_KEY },
  });
  if (response.status !== 200) throw new Error(`reading the hot row answered ${response.status}`);
  const level = (await response.json()) as LevelRow;
  return { quantity: level.quantity, reserved: level.reserved, available: level.available ?? 0 };
}

/** The hot row refilled, then `mode` on it from 64 clients with no service running. */
async function sqlRun(
  database: BenchDatabase,
  [productId, storeId]: Level,
  mode: SqlLoadMode,
): Promise<SqlLoadRun> {
  await withSession(database, (session) =>
    session.query(
      'UPDATE stock_levels SET quantity = $4, reserved = 0 WHERE tenant_id = $1 AND product_id = $2 AND store_id = $3',
      [BENCH_TENANT, productId, storeId, CEILING_STOCK],
    ),
  );
  return runSqlLoad({
    mode,
    database: { kind: database.kind, url: database.url, pgliteDir: database.pgliteDir },
    tenant_id: BENCH_TENANT,
    levels: [[productId, storeId]],
    clients: CLIENTS,
    warm_up_seconds: 1,
    duration_seconds: LOAD_SECONDS,
  });
}
