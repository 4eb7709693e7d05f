import { type MeasuredLoad, runLoad } from './load.js';
import { type LoadJob, type LoadRun, loadRunOf } from './load-protocol.js';
import type { ProcessUsage } from './process-sampler.js';
import { round } from './stats.js';

/** Measured slices per target: enough to cancel a drift, few enough that each slice is seconds long. */
const INTERLEAVED_SLICES = 4;
/**
 * Unmeasured load before every slice: each slice is a new load worker, whose own code is cold and
 * whose connections are new, and latency is timed on its side.
 */
const SLICE_LEAD_IN_SECONDS = 1;

export interface InterleavedTarget {
  /** The target's whole load: its warm-up runs before any slice, its duration is shared out. */
  job: LoadJob;
  /** The process to sample while the target's slices run. */
  pid: number;
}

export interface InterleavedLoad extends MeasuredLoad {
  /** Requests/s of each of the target's slices, in the order they ran. */
  slice_rates: number[];
  /** The p99 of each slice's answers, in the same order. */
  slice_p99_ms: number[];
}

/**
 * A slice's length: the target's duration shared out, in whole seconds, since autocannon looks at
 * its clock once a second and a 2.5 s load ran for 3.
 */
export function sliceSeconds(durationSeconds: number, rounds: number): number {
  return Math.max(1, Math.round(durationSeconds / rounds));
}

/**
 * The order of the slices, as target indexes: A B, B A, A B, … Each round holds one slice of each,
 * and the rounds alternate which goes first, so that a drift of the machine's speed over the run
 * weighs on both targets alike instead of on whichever ran second.
 */
export function sliceSchedule(rounds: number): Array<0 | 1> {
  return Array.from(
    { length: rounds },
    (_, index): Array<0 | 1> => (index % 2 === 0 ? [0, 1] : [1, 0]),
  ).flat();
}

/**
 * Two loads measured in alternating slices rather than one after the other: on a machine whose
 * speed drifts by 2× within the hour, a figure and its ceiling measured a minute apart can be
 * measured at different speeds, and their ratio then says more about the machine than about the
 * service. Both targets must be running throughout. Each target's warm-up runs first; then each
 * slice is a load worker of its own, a short lead-in and the measured part. For loads as fast as
 * the targets answer: a paced load's figure is its latency at a rate, which needs no ceiling.
 */
export async function runInterleaved(
  targets: readonly [InterleavedTarget, InterleavedTarget],
  rounds = INTERLEAVED_SLICES,
): Promise<[InterleavedLoad, InterleavedLoad]> {
  if (targets.some(({ job }) => job.overall_rate !== undefined))
    throw new Error('interleaved loads run as fast as their targets answer: no rate');
  // The warm-ups first, each a load of its own: every measured slice then starts alike.
  for (const { job, pid } of targets)
    if (job.warm_up_seconds > 0)
      await runLoad(
        {
          ...job,
          profile: job.warm_up_profile ?? job.profile,
          warm_up_seconds: 0,
          duration_seconds: job.warm_up_seconds,
        },
        pid,
      );
  const measured: [MeasuredLoad[], MeasuredLoad[]] = [[], []];
  for (const index of sliceSchedule(rounds)) {
    const { job, pid } = targets[index];
    measured[index].push(
      await runLoad(
        {
          ...job,
          warm_up_seconds: SLICE_LEAD_IN_SECONDS,
          duration_seconds: sliceSeconds(job.duration_seconds, rounds),
          keep_samples: true,
        },
        pid,
      ),
    );
  }
  return [merged(measured[0]), merged(measured[1])];
}

function merged(slices: readonly MeasuredLoad[]): InterleavedLoad {
  const runs = slices.map((slice) => slice.run);
  return {
    run: mergeRuns(runs),
    target: mergeUsage(slices.map((slice) => ({ usage: slice.target, seconds: slice.run.duration_seconds }))),
    slice_rates: runs.map((run) => run.requests_per_second),
    slice_p99_ms: runs.map((run) => run.latency.p99_ms),
  };
}

/**
 * One run made of slices: counts add up, the latency figures are those of every slice's samples
 * together (percentiles of percentiles would not be the run's), and the moments of a sell-out,
 * which belong to one continuous load, are left out.
 */
export function mergeRuns(runs: readonly LoadRun[]): LoadRun {
  const samples = runs.map((run) => {
    if (run.samples_ms === undefined) throw new Error('a slice of an interleaved load kept no samples');
    return run.samples_ms;
  });
  const statusCounts: Record<string, number> = {};
  for (const run of runs)
    for (const [status, count] of Object.entries(run.status_counts))
      statusCounts[status] = (statusCounts[status] ?? 0) + count;
  const sum = (field: (run: LoadRun) => number) => runs.reduce((total, run) => total + field(run), 0);
  return loadRunOf({
    // flatMap, not push(...): a slice holds tens of thousands of samples, past an argument list's limit.
    samples_ms: { all: samples.flatMap((slice) => slice.all), ok: samples.flatMap((slice) => slice.ok) },
    status_counts: statusCounts,
    seconds: sum((run) => run.duration_seconds),
    socket_errors: sum((run) => run.socket_errors),
    timeouts: sum((run) => run.timeouts),
    keep_samples: false,
  });
}

/** The process over all its slices: CPU weighted by each slice's length, peaks the highest seen. */
export function mergeUsage(slices: ReadonlyArray<{ usage: ProcessUsage; seconds: number }>): ProcessUsage {
  const seconds = slices.reduce((total, slice) => total + slice.seconds, 0);
  const highest = (field: (usage: ProcessUsage) => number) =>
    Math.max(...slices.map((slice) => field(slice.usage)));
  return {
    cpu_percent:
      seconds > 0
        ? round(
            slices.reduce((total, slice) => total + slice.usage.cpu_percent * slice.seconds, 0) / seconds,
            1,
          )
        : 0,
    cpu_percent_peak: highest((usage) => usage.cpu_percent_peak),
    peak_rss_mib: highest((usage) => usage.peak_rss_mib),
    vm_hwm_mib: highest((usage) => usage.vm_hwm_mib),
    samples: slices.reduce((total, slice) => total + slice.usage.samples, 0),
  };
}
