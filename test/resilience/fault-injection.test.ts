import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgDatabase } from '../../src/platform/db/pg-database.js';
import type { Broker } from '../../src/platform/events/broker.js';
import { NatsBroker } from '../../src/platform/events/nats-broker.js';
import { binaryAvailable, recordingLogger } from '../brokers/broker-support.js';
import { ServerProcess, sparePort } from '../brokers/server-process.js';
import { findInvariantViolations } from '../support/invariants.js';
import {
  type PrivatePostgres,
  privatePostgresAvailable,
  startPrivatePostgres,
} from '../support/private-postgres.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/**
 * The service under a steady load of reservations, confirmations, cancellations, stock changes and
 * availability reads while Redis, the NATS server and PostgreSQL are paused and killed in turn —
 * private instances, never the shared servers. Afterwards: every acknowledged change is in the
 * database, every committed event reached a NATS subscriber exactly once after de-duplication, the
 * stock invariants hold, and every error answer was a fast 503.
 */

const NATS_SERVER = '/usr/sbin/nats-server';
const REDIS_SERVER = '/usr/bin/redis-server';
const START_TIMEOUT_MS = 30_000;
const WORKERS = 4;
/** How long each dependency stays paused or dead, and the steady load between two faults. */
const OUTAGE_MS = 2_500;
const STEADY_MS = 1_500;
/** An error answer slower than this would be a hung request, not a fast refusal. */
const HUNG_REQUEST_MS = 5_000;
const DRAIN_TIMEOUT_MS = 60_000;
const INITIAL_QUANTITY = 1_000_000;
/**
 * A confirm or cancel answered 503 may still have committed (the answer, not the change, was
 * lost); settling it again the other way is then refused, rightly.
 */
const SETTLED_ALREADY = new Set(['RESERVATION_CONFIRMED', 'RESERVATION_CANCELLED']);

interface Outcome {
  kind: 'reserve' | 'confirm' | 'cancel' | 'adjust' | 'read';
  status: number;
  elapsedMs: number;
  code?: string;
  correlationId: string;
}

const servicesAvailable =
  privatePostgresAvailable() &&
  binaryAvailable('NATS', NATS_SERVER) &&
  binaryAvailable('Redis', REDIS_SERVER);

describe.skipIf(!servicesAvailable)('fault injection: Redis, NATS and PostgreSQL failing under load', () => {
  const workDir = mkdtempSync(path.join(tmpdir(), 'omnistock-faults-'));
  let postgres: PrivatePostgres;
  let redis: ServerProcess;
  let nats: ServerProcess;
  let database: PgDatabase;
  let harness: TestApp;
  let audit: Broker;
  const received: string[] = [];

  beforeAll(async () => {
    postgres = await startPrivatePostgres();
    const redisPort = await sparePort();
    redis = new ServerProcess(
      'redis-server',
      redisPort,
      REDIS_SERVER,
      [
        '--port',
        String(redisPort),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        workDir,
      ],
      path.join(workDir, 'redis.log'),
    );
    const natsPort = await sparePort();
    nats = new ServerProcess(
      'nats-server',
      natsPort,
      NATS_SERVER,
      ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', path.join(workDir, 'nats')],
      path.join(workDir, 'nats.log'),
    );
    await Promise.all([redis.start(START_TIMEOUT_MS), nats.start(START_TIMEOUT_MS)]);
    database = new PgDatabase({
      connectionString: postgres.url,
      poolSizeMax: 10,
      statementTimeoutMs: 1_000,
      connectionTimeoutMs: 1_000,
      applicationName: 'omnistock-fault-test',
    });
    harness = await startTestApp('postgres', database, {
      redisUrl: `redis://127.0.0.1:${redisPort}`,
      brokerUrl: `nats://127.0.0.1:${natsPort}`,
      brokerRetryDelayMaxMs: 1_000,
      brokerBreakerHalfOpenAfterMs: 500,
      brokerPublishTimeoutMs: 1_000,
    });
    // An independent subscriber: what a downstream system sees of the event stream.
    audit = new NatsBroker({
      url: `nats://127.0.0.1:${natsPort}`,
      connectTimeoutMs: 3_000,
      publishTimeoutMs: 2_000,
      logger: recordingLogger(),
      streamLengthMax: 1_000_000,
    });
    await audit.connect();
    await audit.consume('fault-audit', async (message) => {
      received.push(message.id);
    });
  }, 120_000);

  afterAll(async () => {
    for (const server of [postgres?.server, redis, nats]) server?.resume();
    await audit?.close();
    await harness?.app.close();
    await database?.close();
    await Promise.all([postgres?.server.stop('SIGINT'), redis?.stop('SIGKILL'), nats?.stop('SIGKILL')]);
    postgres?.remove();
    await rm(workDir, { recursive: true, force: true });
  }, 60_000);

  it('loses nothing acknowledged, delivers every event once, keeps the invariants, and fails fast', async () => {
    const stores = [await harness.createStore('FLT-001'), await harness.createStore('FLT-002')];
    const products = [(await harness.createProduct()).id, (await harness.createProduct()).id];
    for (const product of products) {
      for (const store of stores) await harness.stock(product, store, INITIAL_QUANTITY);
    }

    const outcomes: Outcome[] = [];
    const pendingReservations: string[] = [];
    let sequence = 0;
    let running = true;
    let pendingPeak = 0;

    const call = async (
      kind: Outcome['kind'],
      method: string,
      url: string,
      body?: unknown,
    ): Promise<Outcome & { body: { id?: string } }> => {
      const correlationId = `fault-${++sequence}`;
      const started = performance.now();
      const response = await harness.request(method, url, {
        ...(body === undefined ? {} : { body }),
        headers: { 'x-correlation-id': correlationId },
        ...(kind === 'read' ? { key: null } : {}),
      });
      const outcome: Outcome = {
        kind,
        status: response.status,
        elapsedMs: performance.now() - started,
        correlationId,
        ...(typeof response.body?.code === 'string' ? { code: response.body.code } : {}),
      };
      outcomes.push(outcome);
      return { ...outcome, body: response.body };
    };

    const worker = async (index: number) => {
      for (let step = 0; running; step += 1) {
        const product = products[(index + step) % products.length] as string;
        const store = stores[step % stores.length] as string;
        const roll = step % 10;
        if (roll < 4) {
          const reserved = await call('reserve', 'POST', '/api/v1/reservations', {
            product_id: product,
            store_id: store,
            quantity: 1 + (step % 3),
            customer_id: `customer-${index}`,
          });
          if (reserved.status === 201 && reserved.body.id !== undefined)
            pendingReservations.push(reserved.body.id);
        } else if (roll < 6) {
          const id = pendingReservations.shift();
          if (id !== undefined) {
            const action = roll === 4 ? 'confirm' : 'cancel';
            const settled = await call(action, 'POST', `/api/v1/reservations/${id}/${action}`);
            // Not settled (a fast 503): try again later, as a client would.
            if (settled.status >= 500) pendingReservations.push(id);
          }
        } else if (roll < 8) {
          await call('adjust', 'POST', `/api/v1/stock/${product}/${store}/adjust`, {
            quantity_change: step % 2 === 0 ? 5 : -2,
            reason: step % 2 === 0 ? 'RESTOCK' : 'SALE',
          });
        } else {
          await call('read', 'GET', `/api/v1/products/${product}/availability`);
        }
        await sleep(5);
      }
    };
    const sampler = (async () => {
      while (running) {
        const pending = await harness.request('GET', '/api/v1/events/pending');
        if (pending.status === 200) pendingPeak = Math.max(pendingPeak, pending.body.pending);
        await sleep(200);
      }
    })();

    const load = Promise.all(Array.from({ length: WORKERS }, (_, index) => worker(index)));
    const faults: Array<[string, () => Promise<void>]> = [];
    for (const [name, server] of [
      ['redis', redis],
      ['nats', nats],
      ['postgres', postgres.server],
    ] as const) {
      faults.push([
        `${name} paused`,
        async () => {
          server.pause();
          await sleep(OUTAGE_MS);
          server.resume();
        },
      ]);
      faults.push([
        `${name} killed`,
        async () => {
          await server.stop('SIGKILL');
          await sleep(OUTAGE_MS);
          await server.start(START_TIMEOUT_MS);
        },
      ]);
    }
    await sleep(STEADY_MS);
    for (const [, inject] of faults) {
      await inject();
      await sleep(STEADY_MS);
    }
    // Settle what is still pending, so that the end state is checkable exactly.
    running = false;
    await load;
    await sampler;

    // Every committed event reaches the subscriber once the broker is back.
    const drainStarted = Date.now();
    const committed = async () =>
      (
        await database.schemaOwner().query<{ id: string }>('SELECT id FROM outbox_events ORDER BY position')
      ).rows.map((row) => row.id);
    let committedIds = await committed();
    while (
      new Set(received).size < committedIds.length ||
      committedIds.some((id) => !received.includes(id))
    ) {
      if (Date.now() - drainStarted > DRAIN_TIMEOUT_MS) break;
      await sleep(200);
      committedIds = await committed();
    }
    const drainMs = Date.now() - drainStarted;

    // 1. No error answer but fast 503s (and the 4xx a client can cause); never a 500, never hung.
    const failed = outcomes.filter((outcome) => outcome.status >= 500);
    for (const outcome of failed) {
      expect(outcome.status, JSON.stringify(outcome)).toBe(503);
      expect(outcome.elapsedMs).toBeLessThan(HUNG_REQUEST_MS);
    }
    const unexpected = outcomes.filter(
      (outcome) => outcome.status >= 400 && outcome.status < 500 && !SETTLED_ALREADY.has(outcome.code ?? ''),
    );
    expect(unexpected).toEqual([]);

    // 2. Every acknowledged change is in the database.
    const acknowledged = outcomes.filter((outcome) => outcome.status < 300 && outcome.kind !== 'read');
    const recorded = new Set(
      (
        await database.schemaOwner().query<{ correlation_id: string }>(
          `SELECT correlation_id FROM stock_movements
           UNION SELECT envelope->>'correlationid' FROM outbox_events`,
        )
      ).rows.map((row) => row.correlation_id),
    );
    const lost = acknowledged.filter((outcome) => !recorded.has(outcome.correlationId));
    expect(lost).toEqual([]);

    // 3. The stock invariants hold.
    expect(await findInvariantViolations(database.schemaOwner())).toEqual([]);

    // 4. Exactly once after de-duplication, nothing missing.
    const unique = new Set(received);
    expect(committedIds.filter((id) => !unique.has(id))).toEqual([]);
    expect(unique.size).toBe(committedIds.length);

    const figures = {
      requests_sent: outcomes.length,
      acknowledged: outcomes.filter((outcome) => outcome.status < 300).length,
      failed_fast_503: failed.length,
      slowest_503_ms: Math.round(Math.max(0, ...failed.map((outcome) => outcome.elapsedMs))),
      lost: lost.length,
      events_committed: committedIds.length,
      deliveries_received: received.length,
      events_pending_peak: pendingPeak,
      drain_after_load_ms: drainMs,
    };
    process.stdout.write(`fault-injection figures: ${JSON.stringify(figures)}\n`);
    expect(figures.acknowledged).toBeGreaterThan(0);
    expect(figures.failed_fast_503).toBeGreaterThan(0);
  }, 240_000);
});
