import { mkdtempSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AmqpBroker } from '../../src/platform/events/amqp-broker.js';
import type { Broker, BrokerMessage } from '../../src/platform/events/broker.js';
import { NatsBroker } from '../../src/platform/events/nats-broker.js';
import { RedisBroker } from '../../src/platform/events/redis-broker.js';
import { NATS_SERVER, natsServer, RABBITMQ_SERVER, rabbitmqNode } from '../support/broker-servers.js';
import {
  binaryAvailable,
  expectExactlyOnce,
  firstDeliveries,
  makeMessages,
  type RecordedLogger,
  recordingLogger,
  sleep,
} from './broker-support.js';
import { ServerProcess, sparePort } from './server-process.js';

const REDIS_SERVER = '/usr/bin/redis-server';
const MESSAGES = 300;
const BATCH_MESSAGES = 10;
/** Paces the publisher so the stream of batches spans the outage rather than finishing before it. */
const BATCH_PAUSE_MS = 15;
const RESTART_AFTER_BATCHES = 6;
const DOWN_MS = 500;
const PUBLISH_RETRY_DELAY_MS = 100;
const START_TIMEOUT_MS = 20_000;
const RABBITMQ_START_TIMEOUT_MS = 30_000;
/** Start, outage, reconnect and catching up; RabbitMQ adds its ~7 s boot and the client's backoff. */
const SCENARIO_TIMEOUT_MS = 20_000;
const RABBITMQ_SCENARIO_TIMEOUT_MS = 45_000;
const common = { connectTimeoutMs: 3_000, publishTimeoutMs: 2_000 };

const workDir = mkdtempSync(path.join(tmpdir(), 'omnistock-broker-restart-'));
const servers: ServerProcess[] = [];

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop('SIGKILL')));
  await rm(workDir, { recursive: true, force: true });
});

interface Outcome {
  received: BrokerMessage[];
  published: BrokerMessage[];
  failedPublishes: number;
}

/**
 * Publishes a paced stream of batches, retrying each failed batch as the outbox relay does, while
 * `restart` stops and starts the server once the stream is under way; then waits (bounded) until
 * the consumer group has seen every message.
 */
async function publishThroughRestart(
  broker: Broker,
  restart: () => Promise<void>,
  timeoutMs = SCENARIO_TIMEOUT_MS,
): Promise<Outcome> {
  const received: BrokerMessage[] = [];
  await broker.consume('survivors', async (message) => {
    received.push(message);
  });
  const published = makeMessages(MESSAGES);
  const deadline = Date.now() + timeoutMs;
  let failedPublishes = 0;
  let restarting: Promise<void> | undefined;
  for (let start = 0; start < published.length; start += BATCH_MESSAGES) {
    if (start === RESTART_AFTER_BATCHES * BATCH_MESSAGES) restarting = restart();
    const batch = published.slice(start, start + BATCH_MESSAGES);
    for (;;) {
      try {
        await broker.publish(batch);
        break;
      } catch {
        failedPublishes += 1;
        if (Date.now() > deadline) throw new Error(`publishing did not recover within ${timeoutMs} ms`);
        await sleep(PUBLISH_RETRY_DELAY_MS);
      }
    }
    await sleep(BATCH_PAUSE_MS);
  }
  await restarting;
  // Not waitFor(): on a loss, the assertion below names the missing messages instead of timing out.
  while (firstDeliveries(received).length < published.length && Date.now() < deadline) await sleep(20);
  return { received, published, failedPublishes };
}

function expectNothingLost(
  name: string,
  logger: RecordedLogger,
  { received, published, failedPublishes }: Outcome,
): void {
  const duplicates = received.length - firstDeliveries(received).length;
  process.stdout.write(
    `${name}: ${failedPublishes} failed publishes retried, ${duplicates} duplicate deliveries\n`,
  );
  // The outage was real and the adapter saw it (the NATS client may buffer through it unnoticed).
  expect(logger.entries.filter((entry) => entry.level === 'warn').length).toBeGreaterThan(0);
  expectExactlyOnce(received, published);
}

describe.skipIf(!binaryAvailable('NATS', NATS_SERVER))('NATS JetStream restarted mid-stream', () => {
  it('loses no acknowledged message and delivers each one to the group', async () => {
    const { url, server } = await natsServer(path.join(workDir, 'nats'));
    servers.push(server);
    await server.start(START_TIMEOUT_MS);
    const logger = recordingLogger();
    const broker = new NatsBroker({
      ...common,
      logger,
      url,
      streamLengthMax: 100_000,
      // Short: an ack lost in the crash must not stall the group for the default 30 s.
      ackWaitMs: 2_000,
    });
    await broker.connect();
    try {
      const outcome = await publishThroughRestart(broker, async () => {
        await server.stop('SIGKILL');
        await sleep(DOWN_MS);
        await server.start(START_TIMEOUT_MS);
      });
      expectNothingLost('NATS', logger, outcome);
    } finally {
      await broker.close();
    }
  });
});

describe.skipIf(!binaryAvailable('Redis', REDIS_SERVER))('Redis restarted mid-stream', () => {
  it('loses no acknowledged message and delivers each one to the group', async () => {
    const port = await sparePort();
    const dataDir = path.join(workDir, 'redis');
    await mkdir(dataDir);
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dataDir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
    ];
    const server = new ServerProcess(
      'redis-server',
      port,
      REDIS_SERVER,
      args,
      path.join(workDir, 'redis.log'),
    );
    servers.push(server);
    await server.start(START_TIMEOUT_MS);
    const logger = recordingLogger();
    const broker = new RedisBroker({ ...common, logger, url: `redis://127.0.0.1:${port}` });
    await broker.connect();
    try {
      const outcome = await publishThroughRestart(broker, async () => {
        await server.stop('SIGKILL');
        await sleep(DOWN_MS);
        await server.start(START_TIMEOUT_MS);
      });
      expectNothingLost('Redis', logger, outcome);
    } finally {
      await broker.close();
    }
  });
});

const rabbitmqAvailable = binaryAvailable('RabbitMQ', RABBITMQ_SERVER);

describe.skipIf(!rabbitmqAvailable)('RabbitMQ restarted mid-stream', () => {
  let server: ServerProcess;

  // Its ~7 s boot overlaps the NATS and Redis scenarios: started when this block is collected.
  const booting = rabbitmqAvailable
    ? rabbitmqNode(path.join(workDir, 'rabbitmq'), `omnistock-test-${process.pid}`).then(
        async ({ server: node }) => {
          servers.push(node);
          await node.start(RABBITMQ_START_TIMEOUT_MS);
          return node;
        },
      )
    : undefined;
  booting?.catch(() => {});

  beforeAll(async () => {
    server = (await booting) as ServerProcess;
  }, RABBITMQ_START_TIMEOUT_MS + 5_000);

  it(
    'loses no confirmed message and delivers each one to the group',
    async () => {
      const logger = recordingLogger();
      const broker = new AmqpBroker({
        ...common,
        logger,
        url: `amqp://guest:guest@127.0.0.1:${server.port}`,
      });
      await broker.connect();
      try {
        const outcome = await publishThroughRestart(
          broker,
          async () => {
            await server.stop('SIGKILL');
            await sleep(DOWN_MS);
            await server.start(RABBITMQ_START_TIMEOUT_MS);
          },
          RABBITMQ_SCENARIO_TIMEOUT_MS,
        );
        expectNothingLost('RabbitMQ', logger, outcome);
      } finally {
        await broker.close();
      }
    },
    RABBITMQ_SCENARIO_TIMEOUT_MS + 10_000,
  );
});
