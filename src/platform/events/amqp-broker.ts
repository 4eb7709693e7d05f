import { once } from 'node:events';
import { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage, connect } from 'amqplib';
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

export const AMQP_EXCHANGE = 'inventory';
export const AMQP_QUEUE_PREFIX = 'omnistock.';
export const AMQP_REDELIVERY_DELAY_MS = 1_000;
/** Unacknowledged deliveries per member: enough to hide the round trip, few enough to rewind. */
const PREFETCH_MESSAGES_MAX = 64;
/** RabbitMQ and we both notice a dead peer after two missed heartbeats. */
const HEARTBEAT_SECONDS = 10;
const RECONNECT_DELAY_MIN_MS = 250;
const RECONNECT_DELAY_MAX_MS = 15_000;
const SUBSCRIPTION_CLOSE_WAIT_MS = 5_000;
const SEQUENCE_HEADER = 'omnistock-sequence';
const BINDING_KEY = 'inventory.#';

export interface AmqpBrokerOptions extends BrokerConnectionOptions {
  exchange?: string;
  queuePrefix?: string;
  redeliveryDelayMs?: number;
}

/**
 * RabbitMQ adapter: a durable topic exchange, one durable queue per group, persistent messages
 * published on a confirm channel. amqplib does not reconnect, so this adapter does: on a lost
 * connection it retries with exponential backoff and jitter, then re-creates the publishing channel
 * and every member's channel and consumer. A publish during an outage rejects; the caller retries.
 * RabbitMQ cannot de-duplicate; the consumers' inbox drops repeats by `messageId`.
 */
export class AmqpBroker implements Broker {
  readonly name = 'amqp' as const;
  readonly #options: AmqpBrokerOptions;
  readonly #exchange: string;
  readonly #subscriptions = new Set<AmqpSubscription>();
  readonly #inFlightPublishes = new InFlight();
  #model: ChannelModel | undefined;
  #publisher: ConfirmChannel | undefined;
  #reconnectAttempts = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: AmqpBrokerOptions) {
    this.#options = options;
    this.#exchange = options.exchange ?? AMQP_EXCHANGE;
  }

  async connect(): Promise<void> {
    if (this.#model === undefined) await this.#open();
  }

  async publish(messages: readonly BrokerMessage[]): Promise<void> {
    const publisher = this.#publisher;
    if (this.#closed || publisher === undefined) throw new Error('RabbitMQ is not connected; retry later');
    const publishing = withTimeout(
      this.#publishConfirmed(publisher, messages),
      this.#options.publishTimeoutMs,
      'RabbitMQ publisher confirms',
    );
    await this.#inFlightPublishes.track(publishing);
  }

  async consume(group: string, handler: MessageHandler): Promise<Subscription> {
    const model = this.#model;
    if (this.#closed || model === undefined) throw new Error('RabbitMQ is not connected; retry later');
    if (!CONSUMER_GROUP_PATTERN.test(group)) throw new Error(`invalid consumer group name: ${group}`);
    const subscription = new AmqpSubscription({
      exchange: this.#exchange,
      queue: `${this.#options.queuePrefix ?? AMQP_QUEUE_PREFIX}${group}`,
      handler,
      redeliveryDelayMs: this.#options.redeliveryDelayMs ?? AMQP_REDELIVERY_DELAY_MS,
      logger: this.#options.logger,
      onClosed: (closed) => this.#subscriptions.delete(closed),
      onChannelLost: (model) => this.#restart(model),
    });
    try {
      await subscription.attach(model);
    } catch (error) {
      await subscription.close();
      throw error;
    }
    this.#subscriptions.add(subscription);
    return subscription;
  }

  async removeGroup(group: string): Promise<void> {
    const publisher = this.#publisher;
    if (this.#closed || publisher === undefined) throw new Error('RabbitMQ is not connected; retry later');
    if (!CONSUMER_GROUP_PATTERN.test(group)) throw new Error(`invalid consumer group name: ${group}`);
    // Deleting a queue that does not exist succeeds.
    await publisher.deleteQueue(`${this.#options.queuePrefix ?? AMQP_QUEUE_PREFIX}${group}`);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    await Promise.all([...this.#subscriptions].map((subscription) => subscription.close()));
    await this.#inFlightPublishes.settled();
    const model = this.#model;
    this.#model = undefined;
    this.#publisher = undefined;
    await model?.close().catch(() => {});
  }

  async #publishConfirmed(publisher: ConfirmChannel, messages: readonly BrokerMessage[]): Promise<void> {
    const confirms: Promise<void>[] = [];
    for (const message of messages) {
      let written = true;
      // Each message's own confirm, rather than waitForConfirms(), which would also wait for
      // messages of concurrent callers and fail this call for their nacks.
      confirms.push(
        new Promise<void>((resolve, reject) => {
          written = publisher.publish(
            this.#exchange,
            message.subject,
            Buffer.from(JSON.stringify(message.envelope)),
            {
              persistent: true,
              messageId: message.id,
              contentType: 'application/cloudevents+json',
              headers: { ...message.headers, [SEQUENCE_HEADER]: message.sequence },
            },
            (error: unknown) =>
              error ? reject(new Error('RabbitMQ nacked or lost a message', { cause: error })) : resolve(),
          );
        }),
      );
      // The socket buffer is full: wait rather than queue the whole batch in memory.
      if (!written) await once(publisher, 'drain');
    }
    await Promise.all(confirms);
  }

  async #open(): Promise<void> {
    const { logger, connectTimeoutMs } = this.#options;
    const url = new URL(this.#options.url);
    if (!url.searchParams.has('heartbeat')) url.searchParams.set('heartbeat', String(HEARTBEAT_SECONDS));
    // amqplib leaves Nagle's algorithm on: a batch's frames after the first would wait for the
    // peer's delayed ACK (40 ms on Linux) before leaving the socket.
    const model = await connect(url.toString(), { timeout: connectTimeoutMs, noDelay: true });
    try {
      const warn = (message: string) => (details: unknown) =>
        logger.warn({ broker: 'amqp', details }, message);
      model.on('error', warn('RabbitMQ connection error'));
      model.on('blocked', warn('RabbitMQ blocks publishing (resource alarm)'));
      model.on('unblocked', () => logger.info({ broker: 'amqp' }, 'RabbitMQ unblocked publishing'));
      const publisher = await model.createConfirmChannel();
      publisher.on('error', warn('publish channel error'));
      await publisher.assertExchange(this.#exchange, 'topic', { durable: true });
      publisher.once('close', () => this.#restart(model));
      await Promise.all([...this.#subscriptions].map((subscription) => subscription.attach(model)));
      if (this.#closed) throw new Error('the RabbitMQ broker was closed while connecting');
      model.once('close', () => this.#onConnectionLost(model));
      this.#model = model;
      this.#publisher = publisher;
    } catch (error) {
      await model.close().catch(() => {});
      throw error;
    }
  }

  /**
   * A channel failed while its connection lives on (a deleted queue or exchange, a protocol error):
   * rare enough that starting the whole connection afresh, with every channel, is the simple cure.
   */
  #restart(model: ChannelModel): void {
    if (this.#model === model && !this.#closed) model.close().catch(() => {});
  }

  #onConnectionLost(model: ChannelModel): void {
    if (this.#model !== model) return;
    this.#model = undefined;
    this.#publisher = undefined;
    if (this.#closed) return;
    this.#options.logger.warn({ broker: 'amqp' }, 'RabbitMQ connection lost; reconnecting');
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    const { logger } = this.#options;
    this.#reconnectAttempts += 1;
    this.#reconnectTimer = setTimeout(
      async () => {
        try {
          await this.#open();
          logger.info({ broker: 'amqp', attempts: this.#reconnectAttempts }, 'RabbitMQ reconnected');
          this.#reconnectAttempts = 0;
        } catch (error) {
          if (this.#closed) return;
          // Once per outage: every further attempt would fail the same way.
          if (this.#reconnectAttempts === 1)
            logger.warn({ broker: 'amqp', err: error }, 'reconnect failed; retrying');
          this.#scheduleReconnect();
        }
      },
      jitteredBackoffMs(this.#reconnectAttempts, RECONNECT_DELAY_MIN_MS, RECONNECT_DELAY_MAX_MS),
    );
  }
}

interface AmqpSubscriptionOptions {
  exchange: string;
  queue: string;
  handler: MessageHandler;
  redeliveryDelayMs: number;
  logger: BrokerLogger;
  onClosed(subscription: AmqpSubscription): void;
  onChannelLost(model: ChannelModel): void;
}

interface Delivery {
  channel: Channel;
  message: ConsumeMessage;
}

/**
 * One member, on a channel of its own. Deliveries are handled one at a time in arrival order. When
 * a handler throws, the member stops its consumer, waits, and returns the failed message and every
 * later unacknowledged one to the queue (RabbitMQ puts them back in their original positions), so
 * the failed message is delivered again before the ones behind it.
 */
class AmqpSubscription implements Subscription {
  readonly #options: AmqpSubscriptionOptions;
  readonly #stop = new AbortController();
  #channel: Channel | undefined;
  #consumerTag: string | undefined;
  #deliveries: Delivery[] = [];
  #pumping: Promise<void> | undefined;

  constructor(options: AmqpSubscriptionOptions) {
    this.#options = options;
  }

  /** Opens this member's channel on `model`, declares its queue and starts consuming. */
  async attach(model: ChannelModel): Promise<void> {
    if (this.#stop.signal.aborted) return;
    const { exchange, queue, logger } = this.#options;
    const channel = await model.createChannel();
    channel.on('error', (error: unknown) =>
      logger.warn({ broker: 'amqp', queue, err: error }, 'channel error'),
    );
    channel.once('close', () => {
      // RabbitMQ requeued whatever this member held on the channel.
      if (this.#channel === channel) this.#channel = undefined;
      this.#deliveries = this.#deliveries.filter((delivery) => delivery.channel !== channel);
      if (!this.#stop.signal.aborted) this.#options.onChannelLost(model);
    });
    await channel.prefetch(PREFETCH_MESSAGES_MAX);
    await channel.assertExchange(exchange, 'topic', { durable: true });
    await channel.assertQueue(queue, { durable: true });
    await channel.bindQueue(queue, exchange, BINDING_KEY);
    this.#channel = channel;
    await this.#startConsumer(channel);
  }

  async close(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    await withTimeout(this.#pumping ?? Promise.resolve(), SUBSCRIPTION_CLOSE_WAIT_MS, 'AMQP close').catch(
      (error: unknown) =>
        this.#options.logger.warn({ err: error, queue: this.#options.queue }, 'a handler outlived close()'),
    );
    const channel = this.#channel;
    this.#channel = undefined;
    this.#deliveries = [];
    // Closing the channel requeues what this member held but had not handled.
    await channel?.close().catch(() => {});
    this.#options.onClosed(this);
  }

  async #startConsumer(channel: Channel): Promise<void> {
    const reply = await channel.consume(this.#options.queue, (message) => this.#onDelivery(channel, message));
    this.#consumerTag = reply.consumerTag;
  }

  #onDelivery(channel: Channel, message: ConsumeMessage | null): void {
    if (message === null) {
      // RabbitMQ cancelled the consumer (queue deleted): a fresh start re-declares the queue.
      channel.close().catch(() => {});
      return;
    }
    this.#deliveries.push({ channel, message });
    this.#kick();
  }

  #kick(): void {
    if (this.#pumping !== undefined || this.#stop.signal.aborted) return;
    this.#pumping = this.#pump()
      .catch((error: unknown) =>
        this.#options.logger.error({ broker: 'amqp', err: error }, 'delivery loop failed'),
      )
      .finally(() => {
        this.#pumping = undefined;
        // A delivery may have arrived between the loop's last look and now.
        if (this.#deliveries.length > 0) this.#kick();
      });
  }

  async #pump(): Promise<void> {
    const { handler, logger, queue } = this.#options;
    while (!this.#stop.signal.aborted) {
      const delivery = this.#deliveries[0];
      if (delivery === undefined) return;
      const { channel, message: raw } = delivery;
      const message = decode(raw);
      if (message === undefined) {
        logger.error(
          { broker: 'amqp', queue, delivery_tag: raw.fields.deliveryTag },
          'undecodable message dropped',
        );
        settle(() => channel.nack(raw, false, false));
        this.#forget(delivery);
        continue;
      }
      try {
        await handler(message);
      } catch (error) {
        logger.warn({ err: error, broker: 'amqp', queue, id: message.id }, 'handler failed; redelivering');
        await this.#rewind(channel);
        continue;
      }
      // If the channel died meanwhile, RabbitMQ has requeued the message: it comes again (at least once).
      settle(() => channel.ack(raw));
      this.#forget(delivery);
    }
  }

  /** Not shift(): a reconnect may have replaced the deliveries while the handler ran. */
  #forget(delivery: Delivery): void {
    if (this.#deliveries[0] === delivery) this.#deliveries.shift();
  }

  async #rewind(channel: Channel): Promise<void> {
    try {
      // After cancel-ok no more deliveries arrive, so nackAll covers exactly what this member holds.
      if (this.#consumerTag !== undefined) await channel.cancel(this.#consumerTag);
      await sleepUnlessAborted(this.#options.redeliveryDelayMs, this.#stop.signal);
      channel.nackAll(true);
      this.#deliveries = this.#deliveries.filter((delivery) => delivery.channel !== channel);
      if (!this.#stop.signal.aborted && this.#channel === channel) await this.#startConsumer(channel);
    } catch (error) {
      // The channel failed meanwhile: RabbitMQ requeued everything, and the reconnect takes over.
      this.#deliveries = this.#deliveries.filter((delivery) => delivery.channel !== channel);
      this.#options.logger.warn(
        { broker: 'amqp', queue: this.#options.queue, err: error },
        'rewind interrupted',
      );
    }
  }
}

function decode(raw: ConsumeMessage): BrokerMessage | undefined {
  const id = raw.properties.messageId as unknown;
  const transport: Record<string, unknown> = raw.properties.headers ?? {};
  const sequence = Number(transport[SEQUENCE_HEADER]);
  if (typeof id !== 'string' || !Number.isSafeInteger(sequence)) return undefined;
  let envelope: unknown;
  try {
    envelope = JSON.parse(raw.content.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isCloudEvent(envelope)) return undefined;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(transport)) {
    if (name !== SEQUENCE_HEADER && typeof value === 'string') headers[name] = value;
  }
  return { id, subject: raw.fields.routingKey, sequence, envelope, headers };
}

/** Acks and nacks on a channel that closed meanwhile throw; the server already requeued the message. */
function settle(operation: () => void): void {
  try {
    operation();
  } catch {
    // Nothing to do: see above.
  }
}
