import { jetstreamManager } from '@nats-io/jetstream';
import { connect as connectNats } from '@nats-io/transport-node';
import { connect as connectAmqp } from 'amqplib';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { AmqpBroker } from '../../src/platform/events/amqp-broker.js';
import type { Broker, BrokerMessage, Subscription } from '../../src/platform/events/broker.js';
import { createBroker } from '../../src/platform/events/create-broker.js';
import { MemoryBroker } from '../../src/platform/events/memory-broker.js';
import { NatsBroker } from '../../src/platform/events/nats-broker.js';
import { RedisBroker } from '../../src/platform/events/redis-broker.js';
import {
  expectExactlyOnce,
  firstDeliveries,
  idsBySubject,
  makeMessages,
  RUN_ID,
  recordingLogger,
  serviceAvailable,
  sleep,
  waitFor,
} from './broker-support.js';

const NATS_URL = process.env['TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const AMQP_URL = process.env['TEST_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
const DELIVERY_TIMEOUT_MS = 15_000;
/** Short, so the redelivery tests stay quick; production uses the adapters' defaults. */
const REDELIVERY_DELAY_MS = 200;
const CLOSE_PROMPT_MS = 2_000;
const common = { connectTimeoutMs: 3_000, publishTimeoutMs: 5_000, streamLengthMax: 100_000 };
const natsStream = `OMNISTOCK_TEST_${RUN_ID.replaceAll('-', '_')}`;
const redisStreamKey = `omnistock-test-${RUN_ID}`;
const amqpExchange = `omnistock-test-${RUN_ID}`;
const amqpQueuePrefix = `omnistock-test-${RUN_ID}.`;
const amqpGroups = new Set<string>();

interface Target {
  kind: Broker['name'];
  available: boolean;
  make(): Broker;
}

const targets: Target[] = [
  { kind: 'memory', available: true, make: () => new MemoryBroker() },
  {
    kind: 'nats',
    available: await serviceAvailable('NATS', NATS_URL),
    make: () =>
      new NatsBroker({
        ...common,
        url: NATS_URL,
        logger: recordingLogger(),
        streamName: natsStream,
        subjectPrefix: `test-${RUN_ID}.`,
        redeliveryDelayMs: REDELIVERY_DELAY_MS,
      }),
  },
  {
    kind: 'redis',
    available: await serviceAvailable('Redis', REDIS_URL),
    make: () =>
      new RedisBroker({
        ...common,
        url: REDIS_URL,
        logger: recordingLogger(),
        streamKey: redisStreamKey,
        redeliveryDelayMs: REDELIVERY_DELAY_MS,
      }),
  },
  {
    kind: 'amqp',
    available: await serviceAvailable('RabbitMQ', AMQP_URL),
    make: () =>
      new AmqpBroker({
        ...common,
        url: AMQP_URL,
        logger: recordingLogger(),
        exchange: amqpExchange,
        queuePrefix: amqpQueuePrefix,
        redeliveryDelayMs: REDELIVERY_DELAY_MS,
      }),
  },
];

afterAll(async () => {
  if (targets.find((target) => target.kind === 'nats')?.available) {
    const connection = await connectNats({ servers: NATS_URL.replace('nats://', '') });
    await (await jetstreamManager(connection)).streams.delete(natsStream).catch(() => false);
    await connection.close();
  }
  if (targets.find((target) => target.kind === 'redis')?.available) {
    const redis = new Redis(REDIS_URL);
    await redis.del(redisStreamKey);
    redis.disconnect();
  }
  if (targets.find((target) => target.kind === 'amqp')?.available) {
    const connection = await connectAmqp(AMQP_URL);
    const channel = await connection.createChannel();
    for (const group of amqpGroups) await channel.deleteQueue(`${amqpQueuePrefix}${group}`);
    await channel.deleteExchange(amqpExchange);
    await connection.close();
  }
});

for (const target of targets) {
  describe.skipIf(!target.available)(`the Broker contract [${target.kind}]`, () => {
    const open: Broker[] = [];
    afterAll(async () => {
      await Promise.all(open.map((broker) => broker.close()));
    });

    async function connected(): Promise<Broker> {
      const broker = target.make();
      open.push(broker);
      await broker.connect();
      return broker;
    }

    function group(name: string): string {
      amqpGroups.add(name);
      return name;
    }

    async function member(
      broker: Broker,
      groupName: string,
      handle?: (message: BrokerMessage) => Promise<void>,
    ) {
      const received: BrokerMessage[] = [];
      const subscription = await broker.consume(groupName, async (message) => {
        received.push(message);
        await handle?.(message);
      });
      return { received, subscription };
    }

    it('gives every group each message once after de-duplication, in publish order per subject', async () => {
      const broker = await connected();
      const first = await member(broker, group('first'));
      const second = await member(broker, group('second'));
      const published = makeMessages(60);
      await broker.publish(published.slice(0, 20));
      await broker.publish(published.slice(20, 40));
      // The relay repeats a batch whose acknowledgement it did not see.
      await broker.publish(published.slice(20, 40));
      await broker.publish(published.slice(40));

      for (const { received } of [first, second]) {
        await waitFor(
          'every message',
          () => firstDeliveries(received).length >= published.length,
          DELIVERY_TIMEOUT_MS,
        );
        expectExactlyOnce(received, published);
        expect(idsBySubject(firstDeliveries(received))).toEqual(idsBySubject(published));
      }
    });

    it('splits the messages of one group between its members', async () => {
      const broker = await connected();
      const slowly = () => sleep(5);
      const one = await member(broker, group('split'), slowly);
      const two = await member(broker, group('split'), slowly);
      const published = makeMessages(40);
      for (let start = 0; start < published.length; start += 10) {
        await broker.publish(published.slice(start, start + 10));
        await sleep(30);
      }

      const all = () => [...one.received, ...two.received];
      await waitFor(
        'every message',
        () => firstDeliveries(all()).length >= published.length,
        DELIVERY_TIMEOUT_MS,
      );
      expect(one.received.length).toBeGreaterThan(0);
      expect(two.received.length).toBeGreaterThan(0);
      expectExactlyOnce(all(), published);
    });

    it('gives a message whose handler threw to the group again, before the later ones on its subject', async () => {
      const broker = await connected();
      const published = makeMessages(20);
      const failing = new Set([published[5]?.id, published[12]?.id]);
      const handled: BrokerMessage[] = [];
      const { received } = await member(broker, group('retry'), async (message) => {
        if (failing.delete(message.id)) throw new Error('the handler fails once');
        handled.push(message);
      });
      await broker.publish(published);

      await waitFor(
        'every message handled',
        () => firstDeliveries(handled).length >= published.length,
        DELIVERY_TIMEOUT_MS,
      );
      expect(received.filter((message) => message.id === published[5]?.id).length).toBeGreaterThanOrEqual(2);
      expect(received.filter((message) => message.id === published[12]?.id).length).toBeGreaterThanOrEqual(2);
      expectExactlyOnce(handled, published);
      expect(idsBySubject(firstDeliveries(handled))).toEqual(idsBySubject(published));
    });

    it('loses nothing when the handler of one member throws while another member carries on', async () => {
      const broker = await connected();
      const published = makeMessages(40);
      const failing = new Set([published[3]?.id, published[21]?.id]);
      const handled: BrokerMessage[] = [];
      const failOnce = async (message: BrokerMessage) => {
        if (failing.delete(message.id)) throw new Error('the handler fails once');
        handled.push(message);
        await sleep(2);
      };
      await member(broker, group('fail-split'), failOnce);
      await member(broker, group('fail-split'), failOnce);
      for (let start = 0; start < published.length; start += 10) {
        await broker.publish(published.slice(start, start + 10));
        await sleep(30);
      }

      await waitFor(
        'every message handled',
        () => firstDeliveries(handled).length >= published.length,
        DELIVERY_TIMEOUT_MS,
      );
      expect(failing.size).toBe(0);
      expectExactlyOnce(handled, published);
    });

    it('removes a group with what it holds: joining its name again starts at the end of the stream', async () => {
      const broker = await connected();
      const first = await member(broker, group('retired'));
      await broker.publish(makeMessages(4));
      await waitFor(
        'the first messages',
        () => firstDeliveries(first.received).length >= 4,
        DELIVERY_TIMEOUT_MS,
      );
      await first.subscription.close();
      // Kept for the durable group while nobody consumes it, until the group is removed.
      const whileAway = makeMessages(4);
      await broker.publish(whileAway);
      await broker.removeGroup('retired');
      await broker.removeGroup('retired');
      await broker.removeGroup('never-joined');

      const rejoined = await member(broker, group('retired'));
      const after = makeMessages(4);
      await broker.publish(after);
      await waitFor(
        'the later messages',
        () => after.every((message) => rejoined.received.some((seen) => seen.id === message.id)),
        DELIVERY_TIMEOUT_MS,
      );
      const awayIds = new Set(whileAway.map((message) => message.id));
      expect(rejoined.received.filter((message) => awayIds.has(message.id))).toEqual([]);
      await expect(broker.removeGroup('not a group name')).rejects.toThrow(/invalid consumer group name/);
    });

    it('closes promptly, and a closed member gets nothing more while the others carry on', async () => {
      const broker = await connected();
      const leaving = await member(broker, group('leave'));
      const staying = await member(broker, group('leave'));
      const before = makeMessages(8);
      await broker.publish(before);
      await waitFor(
        'the first messages',
        () => firstDeliveries([...leaving.received, ...staying.received]).length >= 8,
        DELIVERY_TIMEOUT_MS,
      );

      let startedAt = Date.now();
      await leaving.subscription.close();
      expect(Date.now() - startedAt).toBeLessThan(CLOSE_PROMPT_MS);
      const leftWith = leaving.received.length;
      const after = makeMessages(12);
      await broker.publish(after);
      await waitFor(
        'the later messages',
        () => after.every((message) => staying.received.some((seen) => seen.id === message.id)),
        DELIVERY_TIMEOUT_MS,
      );
      expect(leaving.received).toHaveLength(leftWith);

      const idle: Subscription = (await member(broker, group('idle'))).subscription;
      startedAt = Date.now();
      await idle.close();
      await broker.close();
      expect(Date.now() - startedAt).toBeLessThan(CLOSE_PROMPT_MS);
      await expect(broker.publish(makeMessages(1))).rejects.toThrow();
    });
  });
}

describe('createBroker', () => {
  const options = { ...common, logger: recordingLogger() };

  it('picks the adapter from the URL scheme', () => {
    expect(createBroker(undefined, options).name).toBe('memory');
    expect(createBroker('nats://127.0.0.1:4222', options).name).toBe('nats');
    expect(createBroker('redis://127.0.0.1:6379', options).name).toBe('redis');
    expect(createBroker('rediss://cache.example:6380', options).name).toBe('redis');
    expect(createBroker('amqp://guest:guest@127.0.0.1:5672', options).name).toBe('amqp');
    expect(createBroker('amqps://mq.example', options).name).toBe('amqp');
  });

  it('rejects other schemes and bad limits, without echoing a password', () => {
    expect(() => createBroker('kafka://user:secret@127.0.0.1:9092', options)).toThrow(
      /unsupported scheme 'kafka:'/,
    );
    expect(() => createBroker('kafka://user:secret@127.0.0.1:9092', options)).not.toThrow(/secret/);
    expect(() => createBroker('not a url', options)).toThrow(/not a URL/);
    expect(() => createBroker('nats://127.0.0.1', { ...options, publishTimeoutMs: 0 })).toThrow(
      /publishTimeoutMs/,
    );
  });
});
