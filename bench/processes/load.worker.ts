import http from 'node:http';
import autocannon from 'autocannon';
import {
  type Level,
  type LoadJob,
  type LoadProfile,
  type LoadRun,
  loadRunOf,
  type WorkerMessage,
} from '../support/load-protocol.js';
import { atRate } from '../support/stats.js';

/**
 * The load generator, in a process of its own (`node --import tsx bench/processes/load.worker.ts`,
 * forked by load.ts): it gets one LoadJob over IPC, runs the warm-up and then the measured load with
 * autocannon, and answers with the LoadRun. Neither the service nor the bench shares its event loop.
 */

const API = '/api/v1';
/** Reservations outlive the run: an expiry during it would give units back and blur the count. */
const RESERVATION_TTL_SECONDS = 3_600;
const READ_SHARE = 0.8;
/**
 * A sale has many shoppers: reservations are spread over this many customers, so the per-customer
 * hold caps (checked under a per-customer lock) cost what they cost in production, not a queue.
 */
const CUSTOMERS = 10_000;
const RESERVE_AND_CONFIRM_SHARE = 0.15;

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)] as T;
}

function requestsFor(profile: LoadProfile, apiKey: string): autocannon.Request[] {
  const headers = { 'x-api-key': apiKey, 'content-type': 'application/json' };
  const get = (path: string): autocannon.Request => ({
    method: 'GET',
    path,
    headers: { 'x-api-key': apiKey },
  });
  const reserve = ([productId, storeId]: Level): autocannon.Request => ({
    method: 'POST',
    path: `${API}/reservations`,
    headers,
    body: JSON.stringify({
      product_id: productId,
      store_id: storeId,
      quantity: 1,
      customer_id: `bench-customer-${Math.floor(Math.random() * CUSTOMERS)}`,
      ttl_seconds: RESERVATION_TTL_SECONDS,
    }),
  });
  switch (profile.kind) {
    case 'bare':
      return [{ method: 'GET', path: '/bare' }];
    case 'availability':
      return [
        {
          setupRequest: (request) => ({
            ...request,
            ...get(`${API}/products/${pick(profile.product_ids)}/availability`),
          }),
        },
      ];
    case 'reserve':
      return [{ setupRequest: (request) => ({ ...request, ...reserve(pick(profile.levels)) }) }];
    case 'sale': {
      let next = 0;
      return [
        {
          setupRequest: (request) => {
            const [productId, storeId] = profile.levels[next % profile.levels.length] as Level;
            next += 1;
            return {
              ...request,
              method: 'POST',
              path: `${API}/stock/${productId}/${storeId}/adjust`,
              headers,
              body: JSON.stringify({ quantity_change: -1, reason: 'SALE' }),
            };
          },
        },
      ];
    }
    case 'mixed': {
      // Reservations not yet confirmed, first in first out. Shared by the connections: autocannon
      // resets a connection's context after each pass over a one-request list.
      const pending: string[] = [];
      return [
        {
          setupRequest: (request) => {
            const draw = Math.random();
            const level = pick(profile.levels);
            if (draw < READ_SHARE / 2)
              return { ...request, ...get(`${API}/products/${level[0]}/availability`) };
            if (draw < READ_SHARE) return { ...request, ...get(`${API}/stock/${level[0]}/${level[1]}`) };
            if (draw < READ_SHARE + RESERVE_AND_CONFIRM_SHARE) {
              // Half reservations, half confirms of earlier reservations.
              const confirmed =
                draw < READ_SHARE + RESERVE_AND_CONFIRM_SHARE / 2 ? undefined : pending.shift();
              if (confirmed === undefined) return { ...request, ...reserve(level) };
              // No body, so no content type: an empty body declared JSON is refused 400, and the
              // load generator's connections stalled on those answers until the run ended.
              return {
                ...request,
                method: 'POST',
                path: `${API}/reservations/${confirmed}/confirm`,
                headers: { 'x-api-key': apiKey },
              };
            }
            return {
              ...request,
              method: 'POST',
              path: `${API}/stock/${level[0]}/${level[1]}/adjust`,
              headers,
              body: JSON.stringify({ quantity_change: 1, reason: 'RESTOCK' }),
            };
          },
          // 201 is a new reservation: nothing else in this mix creates anything.
          onResponse: (status, body) => {
            if (status !== 201) return;
            const id = (JSON.parse(body) as { reservation_id?: string }).reservation_id;
            if (id !== undefined) pending.push(id);
          },
        },
      ];
    }
  }
}

/** No answer by then counts as a timeout, as autocannon's default does. */
const REQUEST_TIMEOUT_MS = 10_000;

/** What a load keeps of each measured answer, and the LoadRun it makes of them. */
function answerLog(keepSamples: boolean) {
  const latencies: number[] = [];
  const latencies2xx: number[] = [];
  const statusCounts: Record<string, number> = {};
  let last2xxAtMs: number | undefined;
  let first409AtMs: number | undefined;
  const startedAt = performance.now();
  return {
    record(status: number, milliseconds: number): void {
      latencies.push(milliseconds);
      statusCounts[status] = (statusCounts[status] ?? 0) + 1;
      const at = performance.now() - startedAt;
      if (status >= 200 && status < 300) {
        latencies2xx.push(milliseconds);
        last2xxAtMs = at;
      } else if (status === 409 && first409AtMs === undefined) first409AtMs = at;
    },
    run(failures: { socketErrors: number; timeouts: number }): LoadRun {
      return loadRunOf({
        samples_ms: { all: latencies, ok: latencies2xx },
        status_counts: statusCounts,
        seconds: (performance.now() - startedAt) / 1000,
        socket_errors: failures.socketErrors,
        timeouts: failures.timeouts,
        last_2xx_at_ms: last2xxAtMs,
        first_409_at_ms: first409AtMs,
        keep_samples: keepSamples,
      });
    },
  };
}

/** autocannon's load: as fast as the service answers, or its own per-connection rate limit. */
function run(
  job: LoadJob,
  profile: LoadProfile,
  durationSeconds: number,
  measured: boolean,
): Promise<LoadRun> {
  const answers = answerLog(measured && job.keep_samples === true);
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: job.url,
        connections: job.connections,
        duration: durationSeconds,
        timeout: REQUEST_TIMEOUT_MS / 1000,
        requests: requestsFor(profile, job.api_key),
        ...(job.overall_rate === undefined ? {} : { overallRate: job.overall_rate }),
      },
      (error, result) => {
        if (error !== null && error !== undefined) return reject(error);
        resolve(answers.run({ socketErrors: result.errors, timeouts: result.timeouts }));
      },
    );
    if (!measured) return;
    // The instance emits (client, status, bytes, milliseconds) per response; its summary has no p95
    // and whole-millisecond buckets, so the latencies are kept here.
    (instance as NodeJS.EventEmitter).on('response', (...args: unknown[]) =>
      answers.record(args[1] as number, args[3] as number),
    );
  });
}

/**
 * One request every 1/rate seconds over a keep-alive pool of `connections`, each timed from its
 * due moment (so a queue in the pool counts against the service, as it would for a client).
 */
async function paced(
  job: LoadJob,
  profile: LoadProfile,
  durationSeconds: number,
  measured: boolean,
  settleWithinMs: number,
): Promise<LoadRun> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: job.connections });
  const [template] = requestsFor(profile, job.api_key) as [autocannon.Request];
  // The same request builders as autocannon's, called here the way autocannon calls them.
  const setupRequest = template.setupRequest as
    | ((request: autocannon.Request, context: object) => autocannon.Request)
    | undefined;
  const onResponse = template.onResponse as
    | ((status: number, body: string, context: object) => void)
    | undefined;
  const answers = answerLog(measured && job.keep_samples === true);
  const failures = { socketErrors: 0, timeouts: 0 };
  /** Requests not answered yet, each with what gives it up. */
  const unanswered = new Set<() => void>();
  const send = (dueAt: number) =>
    new Promise<void>((resolve) => {
      const request = setupRequest?.({ ...template }, {}) ?? template;
      let settled = false;
      const settle = () => {
        settled = true;
        unanswered.delete(giveUp);
        resolve();
      };
      // Counted as autocannon counts them: among the errors (no answer), as timeouts.
      const giveUp = () => {
        if (settled) return;
        failures.socketErrors += 1;
        failures.timeouts += 1;
        settle();
        outgoing.destroy();
      };
      const outgoing = http.request(
        `${job.url}${request.path}`,
        { agent, method: request.method, headers: request.headers },
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            body += chunk;
          });
          response.on('end', () => {
            const status = response.statusCode ?? 0;
            if (measured) answers.record(status, performance.now() - dueAt);
            onResponse?.(status, body, {});
            settle();
          });
        },
      );
      unanswered.add(giveUp);
      outgoing.setTimeout(REQUEST_TIMEOUT_MS, giveUp);
      outgoing.on('error', () => {
        if (settled) return;
        failures.socketErrors += 1;
        settle();
      });
      outgoing.end(request.body as string | undefined);
    });
  // A service slower than the rate has a queue of requests (in the agent, waiting for a socket)
  // that grows for the whole load: what is not answered soon after the last one was due counts as
  // timed out, so that the run ends in bounded time however slow the service.
  await atRate(
    job.overall_rate as number,
    durationSeconds * 1000,
    (_index, dueAt) => send(dueAt),
    settleWithinMs,
  );
  for (const giveUp of [...unanswered]) giveUp();
  agent.destroy();
  return answers.run(failures);
}

/** Resolves once the message is handed to the IPC channel, so that exiting next loses nothing. */
function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) resolve();
    else process.send(message, undefined, undefined, () => resolve());
  });
}

/**
 * A paced warm-up climbs to the rate in equal steps, as a load balancer's slow start does for a new
 * instance: a cold process given its full rate at once queues more than it can drain, and a process
 * near its capacity takes seconds to drain a queue, so the measured load would start in a backlog
 * no running service has.
 */
const PACED_WARM_UP_STEPS = [0.25, 0.5, 0.75, 1];

async function warmUp(job: LoadJob): Promise<void> {
  const profile = job.warm_up_profile ?? job.profile;
  if (job.pacing !== 'uniform' || job.overall_rate === undefined) {
    await run(job, profile, job.warm_up_seconds, false);
    return;
  }
  const stepSeconds = job.warm_up_seconds / PACED_WARM_UP_STEPS.length;
  // A step's stragglers may take a step's length more, no longer: the warm-up is bounded too.
  for (const share of PACED_WARM_UP_STEPS)
    await paced(
      { ...job, overall_rate: job.overall_rate * share },
      profile,
      stepSeconds,
      false,
      stepSeconds * 1000,
    );
}

process.once('message', (job: LoadJob) => {
  const measuredLoad = () =>
    job.pacing === 'uniform' && job.overall_rate !== undefined
      ? paced(job, job.profile, job.duration_seconds, true, REQUEST_TIMEOUT_MS)
      : run(job, job.profile, job.duration_seconds, true);
  (async () => {
    if (job.warm_up_seconds > 0) await warmUp(job);
    await send({ type: 'measuring' });
    await send({ type: 'done', run: await measuredLoad() });
  })().then(
    () => process.exit(0),
    async (error: unknown) => {
      await send({
        type: 'failed',
        message: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
      process.exit(1);
    },
  );
});
