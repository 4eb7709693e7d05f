import type { DatabaseKind } from './database.js';
import type { LoadJob, LoadProfile, LoadRun } from './load-protocol.js';
import type { ProcessUsage } from './process-sampler.js';
import { BENCH_ADMIN_KEY } from './service.js';
import type { SqlLoadRun } from './sql-load-protocol.js';
import { round } from './stats.js';

/**
 * A number of the bench's environment, or `fallback` when unset. A value that is not a number at
 * least `minimum` stops the bench at once, rather than running loads of NaN seconds.
 */
export function numberFromEnvironment(name: string, fallback: number, minimum: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < minimum) {
    throw new Error(`${name} must be a number of at least ${minimum}, got "${raw}"`);
  }
  return value;
}

/** Each measured load, in seconds: long enough for a stable p99, short enough for the whole run to stay under 10 min. */
export const LOAD_SECONDS = numberFromEnvironment('BENCH_DURATION_SECONDS', 10, 1);
/**
 * Unmeasured load before it: JIT, pool connections and caches. Five seconds because V8 compiles the
 * hot code on background threads that share the machine's two cores with everything measured: a
 * fresh service's other threads took 27 % and 23 % of a core in the load's first 4 s, 12 % in the
 * next two, and under 10 % from then on (reserve-hot, per-thread CPU from /proc). A shorter
 * warm-up measures the compiler as much as the service.
 */
export const WARM_UP_SECONDS = numberFromEnvironment('BENCH_WARM_UP_SECONDS', 5, 0);
/** Concurrent clients of every unpaced load, HTTP and SQL alike: the 64. */
export const CLIENTS = 64;

/** A figure the issue asks for, beside what was measured. */
export interface Target {
  name: string;
  target: string;
  measured: string;
  met: boolean;
}

export interface Ceiling {
  /** `bare-route`: the framework's bare JSON route; `bare-update`: the conditional UPDATE alone. */
  name: 'bare-route' | 'bare-update';
  per_second: number;
  p99_ms: number;
  run: LoadRun | SqlLoadRun;
  /** The bare route's server, sampled like the service. */
  process?: ProcessUsage;
}

export interface ScenarioResult {
  scenario: string;
  database: DatabaseKind;
  load: LoadRun;
  /** The service process while the measured load ran. */
  service: ProcessUsage;
  /** What the scenario counts as done per second: requests, or successful reservations. */
  per_second: number;
  ceiling?: Ceiling;
  /** The seed design's pessimistic reservation transaction on the same database (reserve-hot --baseline). */
  baseline?: SqlLoadRun;
  ratios: Record<string, number>;
  /** When the figure and its ceiling were measured in alternating slices: each slice's rate. */
  interleaved?: {
    slice_seconds: number;
    figure_rates: number[];
    ceiling_rates: number[];
    figure_p99_ms: number[];
    ceiling_p99_ms: number[];
  };
  checks?: Record<string, unknown>;
  targets: Target[];
}

export function ratio(numerator: number, denominator: number): number {
  return denominator > 0 ? round(numerator / denominator, 2) : Number.NaN;
}

export function atLeast(name: string, measured: number, minimum: number, unit = ''): Target {
  return { name, target: `≥ ${minimum}${unit}`, measured: `${measured}${unit}`, met: measured >= minimum };
}

export function below(name: string, measured: number, maximum: number, unit = ''): Target {
  return { name, target: `< ${maximum}${unit}`, measured: `${measured}${unit}`, met: measured < maximum };
}

/**
 * The load generator's job for an HTTP scenario: the bench's key, CLIENTS connections, the standard
 * warm-up and duration unless the scenario says otherwise.
 */
export function loadJob(url: string, profile: LoadProfile, overrides: Partial<LoadJob> = {}): LoadJob {
  return {
    url,
    api_key: BENCH_ADMIN_KEY,
    connections: CLIENTS,
    warm_up_seconds: WARM_UP_SECONDS,
    duration_seconds: LOAD_SECONDS,
    profile,
    ...overrides,
  };
}

/** The conditional UPDATE alone, no HTTP and no application code: a write scenario's ceiling. */
export function bareUpdateCeiling(run: SqlLoadRun): Ceiling {
  return { name: 'bare-update', per_second: run.transactions_per_second, p99_ms: run.latency.p99_ms, run };
}
