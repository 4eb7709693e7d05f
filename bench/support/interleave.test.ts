import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LoadJob, LoadRun } from './load-protocol.js';
import type { ProcessUsage } from './process-sampler.js';

const launched = vi.hoisted((): LoadJob[] => []);
vi.mock('./load.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('./load.js')>()),
  // Each "slice" answers from its job alone: the URL says which target, the count says which slice.
  runLoad: vi.fn(async (job: LoadJob) => {
    launched.push(job);
    const slice = launched.filter((earlier) => earlier.url === job.url && earlier.keep_samples).length;
    const fast = job.url.endsWith('/fast');
    const latency = fast ? 1 : 10 * slice;
    const count = fast ? 200 : 50;
    return {
      run: slicedRun(
        Array.from({ length: count }, () => latency),
        job.duration_seconds,
      ),
      target: usage(fast ? 90 : 40 + slice, 100 + slice),
    };
  }),
}));

const { mergeRuns, mergeUsage, runInterleaved, sliceSchedule, sliceSeconds } = await import(
  './interleave.js'
);
const { runLoad } = await vi.importActual<typeof import('./load.js')>('./load.js');

function slicedRun(latencies: number[], seconds: number, failures = 0): LoadRun {
  const ok = latencies.slice(failures);
  return {
    requests: latencies.length,
    duration_seconds: seconds,
    requests_per_second: Math.round(latencies.length / seconds),
    latency: { count: 0, p50_ms: 0, p95_ms: 0, p99_ms: Math.max(...latencies), max_ms: 0 },
    latency_2xx: { count: 0, p50_ms: 0, p95_ms: 0, p99_ms: 0, max_ms: 0 },
    status_counts: { '200': ok.length, ...(failures > 0 ? { '503': failures } : {}) },
    non_2xx: failures,
    socket_errors: 1,
    timeouts: 0,
    last_2xx_at_ms: 1_000,
    first_409_at_ms: undefined,
    samples_ms: { all: latencies, ok },
  };
}

function usage(cpuPercent: number, peakRssMib: number): ProcessUsage {
  return {
    cpu_percent: cpuPercent,
    cpu_percent_peak: cpuPercent + 5,
    peak_rss_mib: peakRssMib,
    vm_hwm_mib: peakRssMib,
    samples: 8,
  };
}

function job(url: string, overrides: Partial<LoadJob> = {}): LoadJob {
  return {
    url,
    api_key: 'key',
    connections: 4,
    warm_up_seconds: 5,
    duration_seconds: 8,
    profile: { kind: 'bare' },
    ...overrides,
  };
}

afterEach(() => {
  launched.length = 0;
});

describe('interleaved loads', () => {
  it('alternate which target goes first in each round', () => {
    expect(sliceSchedule(4)).toEqual([0, 1, 1, 0, 0, 1, 1, 0]);
    expect(sliceSchedule(1)).toEqual([0, 1]);
  });

  it('last whole seconds, as the load generator keeps them', () => {
    expect(sliceSeconds(10, 4)).toBe(3);
    expect(sliceSeconds(8, 4)).toBe(2);
    expect(sliceSeconds(2, 4)).toBe(1);
  });

  it('warm both targets up first, then run every slice alike, and merge each target’s slices', async () => {
    const [fast, slow] = await runInterleaved(
      [
        {
          job: job('http://127.0.0.1:1/fast', {
            warm_up_profile: { kind: 'reserve', levels: [] },
            duration_seconds: 7,
          }),
          pid: 1,
        },
        { job: job('http://127.0.0.1:2/slow', { warm_up_seconds: 0, duration_seconds: 7 }), pid: 2 },
      ],
      2,
    );

    // One warm-up (the slow target asked for none), then A B B A, each slice half its load's length
    // in whole seconds (3.5 s would run for 4: autocannon looks at its clock once a second).
    expect(launched.map((load) => [load.url.slice(-4), load.warm_up_seconds, load.duration_seconds])).toEqual(
      [
        ['fast', 0, 5],
        ['fast', 1, 4],
        ['slow', 1, 4],
        ['slow', 1, 4],
        ['fast', 1, 4],
      ],
    );
    expect(launched.slice(1).every((load) => load.keep_samples === true)).toBe(true);
    expect(launched[0]?.keep_samples).toBeUndefined();
    // The warm-up is the job's own warm-up load; the slices are the measured profile.
    expect(launched[0]?.profile.kind).toBe('reserve');
    expect(launched.slice(1).map((load) => load.profile.kind)).toEqual(['bare', 'bare', 'bare', 'bare']);

    expect(fast.run.requests).toBe(400);
    expect(fast.run.requests_per_second).toBe(50);
    expect(fast.slice_rates).toEqual([50, 50]);
    // The slow target's second slice was slower: its p99 is the union's, not either slice's alone.
    expect(slow.slice_p99_ms).toEqual([10, 20]);
    expect(slow.run.latency.p50_ms).toBe(20);
    expect(slow.run.latency.p99_ms).toBe(20);
    expect(slow.target.cpu_percent).toBe(41.5);
    expect(slow.target.peak_rss_mib).toBe(102);
  });

  it('refuse a paced load, whose figure is a latency at its rate', async () => {
    await expect(
      runInterleaved([
        { job: job('http://127.0.0.1:1/fast', { overall_rate: 100 }), pid: 1 },
        { job: job('http://127.0.0.1:2/slow'), pid: 2 },
      ]),
    ).rejects.toThrow(/no rate/);
    expect(launched).toEqual([]);
  });

  it('merge slices into one run: counts add up, percentiles come from every sample together', () => {
    const quick = Array.from({ length: 98 }, () => 1);
    const merged = mergeRuns([slicedRun(quick, 2, 3), slicedRun([40, 50], 1)]);

    expect(merged.requests).toBe(100);
    expect(merged.duration_seconds).toBe(3);
    expect(merged.requests_per_second).toBe(33);
    // Neither slice's own p99 (1 ms and 50 ms): the 99th of the hundred answers.
    expect(merged.latency.p99_ms).toBe(50);
    expect(merged.latency.p95_ms).toBe(1);
    expect(merged.latency_2xx.count).toBe(97);
    expect(merged.status_counts).toEqual({ '200': 97, '503': 3 });
    expect(merged.non_2xx).toBe(3);
    expect(merged.socket_errors).toBe(2);
    // A sell-out's moments belong to one continuous load.
    expect(merged.last_2xx_at_ms).toBeUndefined();
    expect(merged.samples_ms).toBeUndefined();
  });

  it('refuse to merge a slice that kept no samples', () => {
    const { samples_ms: _, ...withoutSamples } = slicedRun([1, 2], 1);
    expect(() => mergeRuns([withoutSamples])).toThrow(/kept no samples/);
  });

  it('weigh each slice’s CPU by its length and keep the highest peaks', () => {
    expect(
      mergeUsage([
        { usage: usage(90, 150), seconds: 3 },
        { usage: usage(50, 170), seconds: 1 },
      ]),
    ).toEqual({ cpu_percent: 80, cpu_percent_peak: 95, peak_rss_mib: 170, vm_hwm_mib: 170, samples: 16 });
  });
});

describe('a load that keeps its samples', () => {
  it('sends every measured latency back, as many as it counted', async () => {
    const server = http.createServer((_request, response) => response.end('{}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const { run } = await runLoad(
        job(`http://127.0.0.1:${port}`, { warm_up_seconds: 0, duration_seconds: 1, keep_samples: true }),
        process.pid,
      );
      expect(run.requests).toBeGreaterThan(0);
      expect(run.samples_ms?.all).toHaveLength(run.requests);
      expect(run.samples_ms?.ok).toHaveLength(run.requests - run.non_2xx);
    } finally {
      server.close();
    }
  }, 30_000);
});
