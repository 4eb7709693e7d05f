import type { EventLatencyRow } from '../scenarios/event-latency.js';
import type { ScenarioResult } from './scenario.js';

/** The event path's tables, one row per database and broker. */
export function printEventTables(latencies: Record<string, unknown>, drains: Record<string, unknown>): void {
  const latencyRows = Object.values(latencies).flat() as EventLatencyRow[];
  if (latencyRows.length > 0) {
    process.stdout.write('\nevent-latency\n');
    console.table(
      latencyRows.map((row) => ({
        database: row.database,
        broker: row.broker,
        changes: row.changes,
        'request p50 / p99 ms': `${row.change_request.p50_ms} / ${row.change_request.p99_ms}`,
        'sse p50 / p99 ms': `${row.commit_to_sse.p50_ms} / ${row.commit_to_sse.p99_ms}`,
        'subscriber p50 / p99 ms': `${row.commit_to_subscriber.p50_ms} / ${row.commit_to_subscriber.p99_ms}`,
        'bare p50 / p99 ms': `${row.bare_publish_to_subscribe.p50_ms} / ${row.bare_publish_to_subscribe.p99_ms}`,
        'p99 / bare p99': row.p99_over_bare_p99,
      })),
    );
  }
  const drainRows = Object.values(drains).flat();
  if (drainRows.length > 0) {
    process.stdout.write('\noutbox-drain\n');
    console.table(drainRows);
  }
}

function errors(result: ScenarioResult): string {
  const byStatus = Object.entries(result.load.status_counts)
    .filter(([status]) => !status.startsWith('2'))
    .map(([status, count]) => `${count}×${status}`);
  // autocannon counts a timeout (no answer within 10 s) as a socket error too.
  if (result.load.socket_errors > 0)
    byStatus.push(`${result.load.socket_errors}×socket (${result.load.timeouts} timeouts)`);
  return byStatus.join(' ') || '0';
}

/**
 * One row per scenario and database — throughput, latency, errors, the service's CPU and memory, and
 * the ceiling with the ratio to it — then every target beside what was measured.
 */
export function printResults(results: readonly ScenarioResult[]): void {
  if (results.length === 0) return;
  process.stdout.write('\nresults (service = the service process while the measured load ran)\n');
  console.table(
    results.map((result) => ({
      scenario: result.scenario,
      database: result.database,
      'done/s': result.per_second,
      'req/s': result.load.requests_per_second,
      'p50 / p95 / p99 ms': `${result.load.latency.p50_ms} / ${result.load.latency.p95_ms} / ${result.load.latency.p99_ms}`,
      'non-2xx, errors': errors(result),
      'service CPU %': result.service.cpu_percent,
      'peak RSS MiB': result.service.peak_rss_mib,
      ceiling:
        result.ceiling === undefined
          ? '—'
          : `${result.ceiling.name} ${result.ceiling.per_second}/s p99 ${result.ceiling.p99_ms} ms`,
      baseline:
        result.baseline === undefined
          ? '—'
          : `${result.baseline.transactions_per_second}/s p99 ${result.baseline.latency.p99_ms} ms`,
      ratios: Object.entries(result.ratios)
        .map(([name, value]) => `${name} = ${value}`)
        .join('; '),
    })),
  );
  process.stdout.write('\ntargets\n');
  console.table(
    results.flatMap((result) =>
      result.targets.map((target) => ({
        scenario: result.scenario,
        database: result.database,
        figure: target.name,
        target: target.target,
        measured: target.measured,
        met: target.met ? 'yes' : 'NO',
      })),
    ),
  );
}
