import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { InFlight, jitteredBackoffMs, sleepUnlessAborted, withTimeout } from '../timing.js';
import {
  type Broker,
  type BrokerConnectionOptions,
  type BrokerLogger,
  type BrokerMessage,
  CONSUMER_GROUP_PATTERN,
  type MessageHandler,
  type Subscription,
} from './broker.js';
import { isCloudEvent } from './cloud-event.js';

export const REDIS_STREAM_KEY = 'inventory-events';
/** Approximate (`MAXLEN ~`) bound of the stream; a group lagging further behind loses the oldest. */
export const REDIS_STREAM_LENGTH_MAX = 1_000_000;
/** Pending longer than this, a message is taken over from a member presumed dead. */
export const REDIS_CLAIM_IDLE_MS = 30_000;
export const REDIS_REDELIVERY_DELAY_MS = 1_000;
const READ_BATCH_MESSAGES_MAX = 100;
const CLAIM_BATCH_MESSAGES_MAX = 100;
/** Short enough that the loop notices closing and claim turns quickly even without `close()`. */
const READ_BLOCK_MS = 2_000;
const CONSUME_RETRY_DELAY_MIN_MS = 100;
const CONSUME_RETRY_DELAY_MAX_MS = 5_000;
const SUBSCRIPTION_CLOSE_WAIT_MS = 5_000;

export interface RedisBrokerOptions extends BrokerConnectionOptions {
  streamLengthMax?: number;
  streamKey?: string;
  claimIdleMs?: number;
  redeliveryDelayMs?: number;
}

interface StreamEntry {
  id: string;
  /** Null when the entry was trimmed away while pending. */
  fields: string[] | null;
}

let consumersCreated = 0;

/**
 * Redis Streams adapter: one stream, one consumer group per `consume` group, one consumer per
 * member. Redis cannot de-duplicate publishes, so a retried batch appears twice and the consumers'
 * inbox drops the repeat. Commands fail fast while disconnected (no offline queue): a publish
 * during an outage rejects and the caller retries; the consume loops back off until Redis returns.
 */
export class RedisBroker implements Broker {
  readonly name = 'redis' as const;
  readonly #options: RedisBrokerOptions;
  readonly #streamKey: string;
  readonly #streamLengthMax: number;
  readonly #subscriptions = new Set<RedisSubscription>();
  readonly #inFlightPublishes = new InFlight();
  /** Publishes, group creation and acks; each member blocks on a connection of its own. */
  #commands: Redis | undefined;
  #closed = false;

  constructor(options: RedisBrokerOptions) {
    this.#options = options;
    this.#streamKey = options.streamKey ?? REDIS_STREAM_KEY;
    this.#streamLengthMax = options.streamLengthMax ?? REDIS_STREAM_LENGTH_MAX;
    if (!Number.isSafeInteger(this.#streamLengthMax) || this.#streamLengthMax < 1) {
      throw new Error(`streamLengthMax must be a positive integer, got ${this.#streamLengthMax}`);
    }
  }

  async connect(): Promise<void> {
    if (this.#commands !== undefined) return;
    const commands = await this.#open('omnistock-commands');
    this.#commands = commands;
  }

  async publish(messages: readonly BrokerMessage[]): Promise<void> {
    const commands = this.#commands;
    if (this.#closed || commands === undefined) throw new Error('the Redis broker is not connected');
    if (messages.length === 0) return;
    const pipeline = commands.pipeline();
    for (const message of messages) {
      // Pipelined on one connection: Redis appends them in this order.
      const fields = {
        id: message.id,
        subject: message.subject,
        sequence: message.sequence,
        envelope: JSON.stringify(message.envelope),
        headers: JSON.stringify(message.headers),
      };
      pipeline.xadd(
        this.#streamKey,
        'MAXLEN',
        '~',
        this.#streamLengthMax,
        '*',
        ...Object.entries(fields).flat(),
      );
    }
    const publishing = withTimeout(pipeline.exec(), this.#options.publishTimeoutMs, 'Redis XADD').then(
      (results) => {
        const failure = results?.find(([error]) => error !== null)?.[0];
        if (results === null || failure) throw failure ?? new Error('the Redis pipeline was aborted');
      },
    );
    await this.#inFlightPublishes.track(publishing);
  }

  async consume(group: string, handler: MessageHandler): Promise<Subscription> {
    const commands = this.#commands;
    if (this.#closed || commands === undefined) throw new Error('the Redis broker is not connected');
    if (!CONSUMER_GROUP_PATTERN.test(group)) throw new Error(`invalid consumer group name: ${group}`);
    await createGroup(commands, this.#streamKey, group);
    consumersCreated += 1;
    const consumer = `${hostname()}-${process.pid}-${consumersCreated}`;
    const reader = await this.#open(`omnistock-${group}-${consumersCreated}`);
    const subscription = new RedisSubscription({
      commands,
      reader,
      streamKey: this.#streamKey,
      group,
      consumer,
      handler,
      claimIdleMs: this.#options.claimIdleMs ?? REDIS_CLAIM_IDLE_MS,
      redeliveryDelayMs: this.#options.redeliveryDelayMs ?? REDIS_REDELIVERY_DELAY_MS,
      logger: this.#options.logger,
      onClosed: (closed) => this.#subscriptions.delete(closed),
    });
    this.#subscriptions.add(subscription);
    return subscription;
  }

  async removeGroup(group: string): Promise<void> {
    const commands = this.#commands;
    if (this.#closed || commands === undefined) throw new Error('the Redis broker is not connected');
    if (!CONSUMER_GROUP_PATTERN.test(group)) throw new Error(`invalid consumer group name: ${group}`);
    try {
      await commands.call('XGROUP', ['DESTROY', this.#streamKey, group]);
    } catch (error) {
      // No stream yet: no group either.
      if (!(error instanceof Error && error.message.includes('requires the key to exist'))) throw error;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((subscription) => subscription.close()));
    await this.#inFlightPublishes.settled();
    this.#commands?.disconnect();
    this.#commands = undefined;
  }

  async #open(connectionName: string): Promise<Redis> {
    const logger = this.#options.logger;
    const connection = new Redis(this.#options.url, {
      lazyConnect: true,
      connectionName,
      connectTimeout: this.#options.connectTimeoutMs,
      enableOfflineQueue: false,
      // A resent XADD would duplicate silently; a resent XREADGROUP would outlive close().
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      // ioredis 6 speaks RESP3 by default; the stream replies parsed below have the RESP2 shapes.
      protocol: 2,
    });
    let down = false;
    connection.on('error', (error: Error) => {
      if (!down)
        logger.warn({ broker: 'redis', connection: connectionName, err: error }, 'Redis connection error');
      down = true;
    });
    connection.on('ready', () => {
      if (down) logger.info({ broker: 'redis', connection: connectionName }, 'Redis reconnected');
      down = false;
    });
    try {
      await connection.connect();
    } catch (error) {
      connection.disconnect();
      throw error;
    }
    return connection;
  }
}

interface RedisSubscriptionOptions {
  commands: Redis;
  reader: Redis;
  streamKey: string;
  group: string;
  consumer: string;
  handler: MessageHandler;
  claimIdleMs: number;
  redeliveryDelayMs: number;
  logger: BrokerLogger;
  onClosed(subscription: RedisSubscription): void;
}

/**
 * One member. It handles its entries one at a time in stream order. After a handler failure or a
 * lost connection it re-reads its own pending entries from the start (`XREADGROUP … 0`) before any
 * new one, so the failed entry comes again before the later ones: publish order holds per member.
 */
class RedisSubscription implements Subscription {
  readonly #options: RedisSubscriptionOptions;
  readonly #stop = new AbortController();
  readonly #running: Promise<void>;

  constructor(options: RedisSubscriptionOptions) {
    this.#options = options;
    this.#running = this.#run();
  }

  async close(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    // Interrupts a blocking read at once; acks go over the other connection and still land.
    this.#options.reader.disconnect();
    await withTimeout(this.#running, SUBSCRIPTION_CLOSE_WAIT_MS, 'Redis subscription close').catch((error) =>
      this.#options.logger.warn({ err: error, group: this.#options.group }, 'a handler outlived close()'),
    );
    await this.#forgetConsumerIfIdle().catch(() => {});
    this.#options.onClosed(this);
  }

  async #run(): Promise<void> {
    const { logger, group } = this.#options;
    let readPending = true;
    let failures = 0;
    let claimedAt = 0;
    while (!this.#stop.signal.aborted) {
      try {
        if (Date.now() - claimedAt >= this.#options.claimIdleMs / 2) {
          if (await this.#claimAbandoned()) readPending = true;
          claimedAt = Date.now();
        }
        const entries = await this.#read(readPending ? '0' : '>');
        if (readPending && entries.length === 0) readPending = false;
        for (const entry of entries) {
          if (this.#stop.signal.aborted) break;
          if (!(await this.#handle(entry))) {
            readPending = true;
            await sleepUnlessAborted(this.#options.redeliveryDelayMs, this.#stop.signal);
            break;
          }
        }
        failures = 0;
      } catch (error) {
        if (this.#stop.signal.aborted) break;
        if (failures === 0)
          logger.warn({ err: error, broker: 'redis', group }, 'Redis consume loop failed; retrying');
        // The stream or group vanished (FLUSHALL, a restart without persistence): start over from now.
        if (error instanceof Error && error.message.startsWith('NOGROUP'))
          await createGroup(this.#options.commands, this.#options.streamKey, group).catch(() => {});
        failures += 1;
        readPending = true;
        await sleepUnlessAborted(
          jitteredBackoffMs(failures, CONSUME_RETRY_DELAY_MIN_MS, CONSUME_RETRY_DELAY_MAX_MS),
          this.#stop.signal,
        );
      }
    }
  }

  /** True when the entry is done with (handled and acknowledged, or dropped as unusable). */
  async #handle(entry: StreamEntry): Promise<boolean> {
    const { commands, streamKey, group, handler, logger } = this.#options;
    const message = decode(entry);
    if (message === undefined) {
      logger.error({ broker: 'redis', group, entry: entry.id }, 'trimmed or undecodable entry dropped');
      await commands.xack(streamKey, group, entry.id);
      return true;
    }
    try {
      await handler(message);
    } catch (error) {
      logger.warn({ err: error, broker: 'redis', group, id: message.id }, 'handler failed; redelivering');
      return false;
    }
    await commands.xack(streamKey, group, entry.id);
    return true;
  }

  async #read(from: '0' | '>'): Promise<StreamEntry[]> {
    const { reader, streamKey, group, consumer } = this.#options;
    const block = from === '>' ? ['BLOCK', READ_BLOCK_MS] : [];
    const options = ['COUNT', READ_BATCH_MESSAGES_MAX, ...block, 'STREAMS', streamKey, from];
    const reply = await reader.call('XREADGROUP', ['GROUP', group, consumer, ...options]);
    if (reply === null) return [];
    const streams = asArray(reply);
    const entries = asArray(asArray(streams[0])[1]);
    return entries.map(toEntry);
  }

  /** Moves entries idle past the claim time (their member died or is stuck) to this member. */
  async #claimAbandoned(): Promise<boolean> {
    const { reader, streamKey, group, consumer, claimIdleMs } = this.#options;
    const reply = asArray(
      await reader.call('XAUTOCLAIM', [
        streamKey,
        group,
        consumer,
        claimIdleMs,
        '0-0',
        'COUNT',
        CLAIM_BATCH_MESSAGES_MAX,
        'JUSTID',
      ]),
    );
    const claimed = asArray(reply[1]).length;
    if (claimed > 0)
      this.#options.logger.info({ broker: 'redis', group, claimed }, 'claimed abandoned entries');
    return claimed > 0;
  }

  /** A consumer per process start would pile up in the group; drop ours when it holds nothing. */
  async #forgetConsumerIfIdle(): Promise<void> {
    const { commands, streamKey, group, consumer } = this.#options;
    const pending = asArray(await commands.call('XPENDING', [streamKey, group, '-', '+', 1, consumer]));
    if (pending.length === 0) await commands.call('XGROUP', ['DELCONSUMER', streamKey, group, consumer]);
  }
}

/** Creates the group at the stream's end (a new group sees what is published from now on). */
async function createGroup(commands: Redis, streamKey: string, group: string): Promise<void> {
  try {
    await commands.call('XGROUP', ['CREATE', streamKey, group, '$', 'MKSTREAM']);
  } catch (error) {
    if (!(error instanceof Error && error.message.startsWith('BUSYGROUP'))) throw error;
  }
}

function decode(entry: StreamEntry): BrokerMessage | undefined {
  if (entry.fields === null) return undefined;
  const fields = new Map<string, string>();
  for (let index = 0; index + 1 < entry.fields.length; index += 2) {
    fields.set(entry.fields[index] as string, entry.fields[index + 1] as string);
  }
  const id = fields.get('id');
  const subject = fields.get('subject');
  const sequence = Number(fields.get('sequence'));
  if (id === undefined || subject === undefined || !Number.isSafeInteger(sequence)) return undefined;
  try {
    const envelope: unknown = JSON.parse(fields.get('envelope') ?? '');
    const headers: unknown = JSON.parse(fields.get('headers') ?? '{}');
    if (!isCloudEvent(envelope) || !isStringRecord(headers)) return undefined;
    return { id, subject, sequence, envelope, headers };
  } catch {
    return undefined;
  }
}

function toEntry(raw: unknown): StreamEntry {
  const [id, fields] = asArray(raw);
  if (typeof id !== 'string') throw new Error('unexpected XREADGROUP reply');
  return { id, fields: fields === null ? null : asArray(fields).map(String) };
}

function asArray(value: unknown): unknown[] {
  if (!Array.isArray(value)) throw new Error('unexpected Redis reply shape');
  return value;
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.values(value).every((element) => typeof element === 'string')
  );
}
