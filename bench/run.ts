import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { availability } from './scenarios/availability.js';
import { eventLatency } from './scenarios/event-latency.js';
import { mixed } from './scenarios/mixed.js';
import { outboxDrain } from './scenarios/outbox-drain.js';
import { reserveHot } from './scenarios/reserve-hot.js';
import { reserveSpread } from './scenarios/reserve-spread.js';
import { startBenchBrokers } from './support/broker-servers.js';
import { availableDatabases, type DatabaseKind } from './support/database.js';
import { releaseEverythingHeld } from './support/interrupt-cleanup.js';
import { printEventTables, printResults } from './support/report.js';
import type { ScenarioResult } from './support/scenario.js';
import { round } from './support/stats.js';
import { dropTemplates } from './support/template.js';

/**
 * `npm run bench [-- scenario … | --baseline | --database=pglite|postgres]`: runs the named scenarios
 * (all by default) on PGlite and, when BENCH_DATABASE_URL (or DATABASE_URL) names a server, on
 * PostgreSQL; prints the results and the targets and writes a JSON report under bench/results/.
 * Every load is bounded in time and talks to loopback only. Figures are reported beside a ceiling
 * measured in the same run, as ratios: this machine's speed drifts, so an absolute number alone
 * means little.
 */
const SCENARIOS = [
  'availability',
  'reserve-spread',
  'reserve-hot',
  'reserve-hot-baseline',
  'mixed',
  'event-latency',
  'outbox-drain',
] as const;
type Scenario = (typeof SCENARIOS)[number];

interface Selection {
  scenarios: readonly Scenario[];
  baseline: boolean;
  databases: DatabaseKind[];
}

function parseArguments(argv: readonly string[]): Selection {
  const requested = argv.filter((argument) => !argument.startsWith('-'));
  const unknown = requested.filter((name) => !(SCENARIOS as readonly string[]).includes(name));
  if (unknown.length > 0)
    throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.join(', ')}`);
  const all = requested.length === 0;
  const scenarios = (all ? SCENARIOS : requested) as readonly Scenario[];
  const databaseFlag = argv
    .find((argument) => argument.startsWith('--database='))
    ?.slice('--database='.length);
  const available = availableDatabases();
  if (databaseFlag !== undefined && !(available as string[]).includes(databaseFlag))
    throw new Error(`--database=${databaseFlag}: available here: ${available.join(', ')}`);
  return {
    scenarios,
    // The whole run compares with the baseline; a named reserve-hot only when asked to.
    baseline: all || argv.includes('--baseline') || scenarios.includes('reserve-hot-baseline'),
    databases: databaseFlag === undefined ? available : [databaseFlag as DatabaseKind],
  };
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  const selection = parseArguments(process.argv.slice(2));
  const selected = (name: Scenario) => selection.scenarios.includes(name);
  const results: ScenarioResult[] = [];
  const eventLatencies: Record<string, unknown> = {};
  const drains: Record<string, unknown> = {};
  const report: Record<string, unknown> = {
    started_at: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpu_model: os.cpus()[0]?.model,
      memory_gib: Math.round(os.totalmem() / 2 ** 30),
      load_average_at_start: os.loadavg().map((load) => round(load)),
      node: process.version,
    },
    databases: selection.databases,
    scenarios: selection.scenarios,
    results,
    event_latency: eventLatencies,
    outbox_drain: drains,
  };
  const step = async <T>(label: string, work: () => Promise<T>): Promise<T> => {
    const began = performance.now();
    process.stdout.write(`${label} …\n`);
    const value = await work();
    process.stdout.write(`${label}: ${round((performance.now() - began) / 1000, 1)} s\n`);
    return value;
  };
  const brokers = process.env['BENCH_BROKERS']?.split(',').map((name) => name.trim());
  for (const kind of selection.databases) {
    if (selected('availability'))
      results.push(await step(`availability on ${kind}`, () => availability(kind)));
    if (selected('reserve-spread'))
      results.push(await step(`reserve-spread on ${kind}`, () => reserveSpread(kind)));
    if (selected('reserve-hot') || selected('reserve-hot-baseline'))
      results.push(
        await step(`reserve-hot on ${kind}`, () => reserveHot(kind, { baseline: selection.baseline })),
      );
    if (selected('mixed')) results.push(await step(`mixed on ${kind}`, () => mixed(kind)));
  }
  // The event path runs on the last database only (PostgreSQL when there is one): what it compares
  // is the brokers, and every broker on both databases would take the run past 10 minutes.
  const eventDatabase = selection.databases.at(-1) as DatabaseKind;
  if (selected('event-latency') || selected('outbox-drain')) {
    const brokerServers = await step('broker servers', () => startBenchBrokers(brokers));
    try {
      if (selected('event-latency'))
        eventLatencies[eventDatabase] = await step(`event-latency on ${eventDatabase}`, () =>
          eventLatency(eventDatabase, brokerServers.urls, brokers),
        );
      if (selected('outbox-drain')) {
        const measured = (eventLatencies[eventDatabase] as { broker: string }[] | undefined)?.map(
          (row) => row.broker,
        );
        drains[eventDatabase] = await step(`outbox-drain on ${eventDatabase}`, () =>
          outboxDrain(eventDatabase, brokerServers.urls, measured ?? brokers ?? ['memory']),
        );
      }
    } finally {
      await brokerServers.stop();
    }
  }
  await dropTemplates();
  const totalSeconds = round((performance.now() - startedAt) / 1000, 1);
  report['total_seconds'] = totalSeconds;
  printEventTables(eventLatencies, drains);
  printResults(results);
  const directory = path.join(
    import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname),
    'results',
  );
  await mkdir(directory, { recursive: true });
  const file = path.join(directory, `bench-${new Date().toISOString().replaceAll(':', '-')}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`total: ${totalSeconds} s\nreport: ${file}\n`);
}

// Interrupted, the run lets go of what it holds as a finished one does: its processes and broker
// servers stop, and its databases (on PostgreSQL, databases on the server) are dropped.
let interrupted = false;
for (const [signal, exitCode] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    interrupted = true;
    process.stderr.write(`bench: ${signal}: stopping its processes and dropping its databases\n`);
    void releaseEverythingHeld().finally(() => process.exit(exitCode));
  });
}

main().then(
  // Interrupted at the very end, the run still waits for its release before it exits.
  async () => {
    if (interrupted) await releaseEverythingHeld();
    process.exit(0);
  },
  async (error: unknown) => {
    // After an interrupt the run fails for the processes it killed: that is no error to report.
    if (!interrupted)
      process.stderr.write(`bench: ${error instanceof Error ? error.stack : String(error)}\n`);
    // The databases are on the server, the processes and brokers outlive the run: none may stay.
    await releaseEverythingHeld();
    process.exit(1);
  },
);
