import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eventLatency } from './scenarios/event-latency.js';
import { outboxDrain } from './scenarios/outbox-drain.js';

/**
 * `npm run bench [-- scenario …]`: runs the named scenarios (all by default), prints one table per
 * scenario and writes a JSON report under bench/results/. Every load is bounded in time and talks
 * to loopback only. Figures are reported with a ceiling measured in the same run, as ratios: this
 * machine's speed drifts, so an absolute number alone means little.
 */
const SCENARIOS = ['event-latency', 'outbox-drain'] as const;
type Scenario = (typeof SCENARIOS)[number];

async function main(): Promise<void> {
  const requested = process.argv.slice(2).filter((argument) => !argument.startsWith('-'));
  const unknown = requested.filter((name) => !(SCENARIOS as readonly string[]).includes(name));
  if (unknown.length > 0)
    throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.join(', ')}`);
  const selected = (requested.length > 0 ? requested : SCENARIOS) as readonly Scenario[];
  const report: Record<string, unknown> = {
    started_at: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpu_model: os.cpus()[0]?.model,
      memory_gib: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
    },
    database: (process.env['BENCH_DATABASE_URL'] ?? process.env['DATABASE_URL']) ? 'postgres' : 'pglite',
  };
  if (selected.includes('event-latency')) {
    const rows = await eventLatency();
    report['event_latency'] = rows;
    console.table(
      rows.map((row) => ({
        broker: row.broker,
        changes: row.changes,
        'request p50 ms': row.change_request.p50_ms,
        'request p99 ms': row.change_request.p99_ms,
        'sse p50 ms': row.commit_to_sse.p50_ms,
        'sse p99 ms': row.commit_to_sse.p99_ms,
        'subscriber p50 ms': row.commit_to_subscriber.p50_ms,
        'subscriber p99 ms': row.commit_to_subscriber.p99_ms,
        'bare p50 ms': row.bare_publish_to_subscribe.p50_ms,
        'bare p99 ms': row.bare_publish_to_subscribe.p99_ms,
        'p99 / bare p99': row.p99_over_bare_p99,
      })),
    );
  }
  if (selected.includes('outbox-drain')) {
    const brokers = ((report['event_latency'] as { broker: string }[] | undefined) ?? []).map(
      (row) => row.broker,
    );
    const rows = await outboxDrain(brokers.length > 0 ? brokers : ['memory']);
    report['outbox_drain'] = rows;
    console.table(rows);
  }
  const directory = path.join(
    import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname),
    'results',
  );
  await mkdir(directory, { recursive: true });
  const file = path.join(directory, `bench-${new Date().toISOString().replaceAll(':', '-')}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`report: ${file}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
