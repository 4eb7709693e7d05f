import { type LatencySummary, round, summarise } from './stats.js';

/** A product × store pair: what a reservation or an adjustment names. */
export type Level = readonly [productId: string, storeId: string];

/**
 * What each request of a load is. The load worker builds the requests from this plain description:
 * functions cannot cross the process boundary, data can.
 */
export type LoadProfile =
  /** GET /products/{id}/availability, a random product each time. */
  | { kind: 'availability'; product_ids: readonly string[] }
  /** The framework's bare JSON route, GET /bare. */
  | { kind: 'bare' }
  /** POST /reservations of quantity 1, a random level of these each time (one level: a hot row). */
  | { kind: 'reserve'; levels: readonly Level[] }
  /** POST /stock/{product}/{store}/adjust of one unit sold, the levels taken in turn. */
  | { kind: 'sale'; levels: readonly Level[] }
  /**
   * 80 % reads (availability and one level), 15 % reservations and confirms of the client's own
   * reservations, 5 % restocks of one unit.
   */
  | { kind: 'mixed'; levels: readonly Level[] };

export interface LoadJob {
  url: string;
  api_key: string;
  connections: number;
  /** Unmeasured load first, so the service's JIT, pools and caches are warm when measuring starts. */
  warm_up_seconds: number;
  /** The warm-up's own requests when the measured ones must not be spent on it (a row that sells out). */
  warm_up_profile?: LoadProfile;
  duration_seconds: number;
  /** Requests per second over all connections (a fixed rate), or as fast as the service answers. */
  overall_rate?: number;
  /**
   * With a rate: `uniform` sends one request every 1/rate seconds (an even arrival stream, for
   * latency figures); by default autocannon's, which lets each connection spend its share of the
   * second in a burst.
   */
  pacing?: 'uniform';
  profile: LoadProfile;
  /** Send every measured latency back with the run, so that runs in slices can be merged exactly. */
  keep_samples?: boolean;
}

export interface LoadRun {
  requests: number;
  duration_seconds: number;
  requests_per_second: number;
  latency: LatencySummary;
  /** The 2xx answers alone: after a row sells out, fast 409s would flatter the tail. */
  latency_2xx: LatencySummary;
  /** Responses by HTTP status, e.g. { "201": 812, "409": 3310 }. */
  status_counts: Record<string, number>;
  non_2xx: number;
  /** Connection errors and timeouts: requests that got no HTTP answer at all. */
  socket_errors: number;
  timeouts: number;
  /** Milliseconds from the start of the measured load to the last 2xx (how long a row took to sell out). */
  last_2xx_at_ms: number | undefined;
  /** Milliseconds from the start of the measured load to the first 409. */
  first_409_at_ms: number | undefined;
  /** Every measured latency, of all answers and of the 2xx alone: only when the job kept them. */
  samples_ms?: { all: readonly number[]; ok: readonly number[] };
}

/** The measured answers of a load, or of several slices of one, before they are summarised. */
export interface MeasuredAnswers {
  /** Latency of every answer, and of the 2xx alone. */
  samples_ms: { all: readonly number[]; ok: readonly number[] };
  status_counts: Record<string, number>;
  seconds: number;
  socket_errors: number;
  timeouts: number;
  last_2xx_at_ms?: number;
  first_409_at_ms?: number;
  /** Send the samples back with the run (see LoadJob.keep_samples). */
  keep_samples: boolean;
}

/** The one way a LoadRun is made: by a load worker from its answers, or from a load's slices. */
export function loadRunOf(answers: MeasuredAnswers): LoadRun {
  const { all, ok } = answers.samples_ms;
  const roundedOrNone = (milliseconds: number | undefined) =>
    milliseconds === undefined ? undefined : Math.round(milliseconds);
  return {
    requests: all.length,
    duration_seconds: round(answers.seconds),
    requests_per_second: answers.seconds > 0 ? Math.round(all.length / answers.seconds) : 0,
    latency: summarise(all),
    latency_2xx: summarise(ok),
    status_counts: answers.status_counts,
    non_2xx: all.length - ok.length,
    socket_errors: answers.socket_errors,
    timeouts: answers.timeouts,
    last_2xx_at_ms: roundedOrNone(answers.last_2xx_at_ms),
    first_409_at_ms: roundedOrNone(answers.first_409_at_ms),
    ...(answers.keep_samples ? { samples_ms: answers.samples_ms } : {}),
  };
}

export type WorkerMessage =
  | { type: 'measuring' }
  | { type: 'done'; run: LoadRun }
  | { type: 'failed'; message: string };
