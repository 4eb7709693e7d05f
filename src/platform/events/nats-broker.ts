import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { connect, headers, type NatsConnection, nanos } from '@nats-io/transport-node';
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

export const NATS_STREAM_NAME = 'INVENTORY';
/** Long enough to cover the relay's retries of one batch, so a republish is dropped as a duplicate. */
export const NATS_DUPLICATE_WINDOW_MS = 120_000;
/** A delivered message not acknowledged by then goes to another member of the group. */
export const NATS_ACK_WAIT_MS = 30_000;
export const NATS_REDELIVERY_DELAY_MS = 1_000;
/**
 * Unacknowledged messages per group, and pulled ahead by each member at most: enough to hide the
 * round trip of each ack and pull, few enough to send back when a handler fails (see
 * NatsSubscription). With one, every message waited for the ack of the one before it and cost a
 * pull request of its own, an API call the server answers: under a steady event rate the most
 * expensive part of a JetStream consumer, for the server and the client.
 */
const GROUP_IN_FLIGHT_MESSAGES_MAX = 64;
/**
 * How long a member sends back what it receives while waiting for a message it sent back. Alone in
 * its group, it gets that message at once; it waits this long only when another member got it.
 */
const REWIND_WAIT_MAX_MS = 5_000;
/** Publishes pipelined before waiting for their acks; bounds the client's memory per call. */
const PUBLISH_WINDOW_MESSAGES_MAX = 256;
/** Frequent pings notice a silently dead server in ~3 intervals instead of the default ~6 minutes. */
const PING_INTERVAL_MS = 10_000;
const RECONNECT_WAIT_MS = 1_000;
const CONSUME_RETRY_DELAY_MIN_MS = 250;
const CONSUME_RETRY_DELAY_MAX_MS = 10_000;
const SUBSCRIPTION_CLOSE_WAIT_MS = 5_000;
const SEQUENCE_HEADER = 'Omnistock-Sequence';
const MESSAGE_ID_HEADER = 'Nats-Msg-Id';

export interface NatsBrokerOptions extends BrokerConnectionOptions {
  /** Oldest messages are discarded beyond this: a group lagging further behind loses them. */
  streamLengthMax: number;
  streamName?: string;
  /** Namespaces the subjects, e.g. for tests or deployments sharing one NATS account. */
  subjectPrefix?: string;
  ackWaitMs?: number;
  redeliveryDelayMs?: number;
}

/**
 * JetStream adapter. Publishes carry `Nats-Msg-Id`, so a retried batch is de-duplicated by the
 * stream within the duplicate window. Each group is a durable pull consumer with explicit acks.
 * The client reconnects forever; publishes during an outage time out and the caller retries.
 */
export class NatsBroker implements Broker {
  readonly name = 'nats' as const;
  readonly #options: NatsBrokerOptions;
  readonly #streamName: string;
  readonly #subjectPrefix: string;
  readonly #subscriptions = new Set<NatsSubscription>();
  readonly #inFlightPublishes = new InFlight();
  #connection: NatsConnection | undefined;
  #client: JetStreamClient | undefined;
  #manager: JetStreamManager | undefined;
  #closed = false;

  constructor(options: NatsBrokerOptions) {
    this.#options = options;
    this.#streamName = options.streamName ?? NATS_STREAM_NAME;
    this.#subjectPrefix = options.subjectPrefix ?? '';
  }

  async connect(): Promise<void> {
    if (this.#connection !== undefined) return;
    const url = new URL(this.#options.url);
    const connection = await connect({
      servers: `${url.hostname}:${url.port === '' ? '4222' : url.port}`,
      user: url.username === '' ? undefined : decodeURIComponent(url.username),
      pass: url.password === '' ? undefined : decodeURIComponent(url.password),
      name: 'omnistock',
      timeout: this.#options.connectTimeoutMs,
      maxReconnectAttempts: -1,
      reconnectTimeWait: RECONNECT_WAIT_MS,
      pingInterval: PING_INTERVAL_MS,
      // Otherwise every request (each JetStream publish is one) captures a stack trace up front, in
      // case it fails: the most expensive call of the publish path in a profile of the service. A
      // failed publish is reported by our own timeout, which names the operation.
      noAsyncTraces: true,
    });
    try {
      const manager = await jetstreamManager(connection, { timeout: this.#options.publishTimeoutMs });
      await this.#ensureStream(manager);
      this.#manager = manager;
      this.#client = jetstream(connection, { timeout: this.#options.publishTimeoutMs });
      this.#connection = connection;
      void this.#watch(connection);
    } catch (error) {
      await connection.close().catch(() => {});
      throw error;
    }
  }

  async publish(messages: readonly BrokerMessage[]): Promise<void> {
    const client = this.#client;
    if (this.#closed || client === undefined) throw new Error('the NATS broker is not connected');
    const publishing = this.#publishInOrder(client, messages);
    await this.#inFlightPublishes.track(publishing);
  }

  async consume(group: string, handler: MessageHandler): Promise<Subscription> {
    const client = this.#client;
    const manager = this.#manager;
    if (this.#closed || client === undefined || manager === undefined) {
      throw new Error('the NATS broker is not connected');
    }
    if (!CONSUMER_GROUP_PATTERN.test(group)) throw new Error(`invalid consumer group name: ${group}`);
    await this.#ensureConsumer(manager, group);
    const subscription = new NatsSubscription({
      client,
      streamName: this.#streamName,
      group,
      handler,
      subjectPrefix: this.#subjectPrefix,
      redeliveryDelayMs: this.#options.redeliveryDelayMs ?? NATS_REDELIVERY_DELAY_MS,
      logger: this.#options.logger,
      onClosed: (closed) => this.#subscriptions.delete(closed),
    });
    this.#subscriptions.add(subscription);
    return subscription;
  }

  async removeGroup(group: string): Promise<void> {
    const manager = this.#manager;
    if (this.#closed || manager === undefined) throw new Error('the NATS broker is not connected');
    if (!CONSUMER_GROUP_PATTERN.test(group)) throw new Error(`invalid consumer group name: ${group}`);
    try {
      await manager.consumers.delete(this.#streamName, group);
    } catch (error) {
      if (!isApiError(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((subscription) => subscription.close()));
    await this.#inFlightPublishes.settled();
    const connection = this.#connection;
    this.#connection = undefined;
    this.#client = undefined;
    this.#manager = undefined;
    if (connection === undefined) return;
    // drain() flushes acks; when the server is gone it would wait for a reconnect that may never come.
    await withTimeout(connection.drain(), this.#options.publishTimeoutMs, 'NATS drain').catch(() =>
      connection.close(),
    );
  }

  async #publishInOrder(client: JetStreamClient, messages: readonly BrokerMessage[]): Promise<void> {
    const deadline = Date.now() + this.#options.publishTimeoutMs;
    for (let start = 0; start < messages.length; start += PUBLISH_WINDOW_MESSAGES_MAX) {
      const window = messages.slice(start, start + PUBLISH_WINDOW_MESSAGES_MAX);
      const timeoutMs = Math.max(1, deadline - Date.now());
      // Issued in one tick, so they go out on the socket (and into the stream) in this order.
      const acks = window.map((message) => {
        const transportHeaders = headers();
        for (const [name, value] of Object.entries(message.headers)) transportHeaders.set(name, value);
        transportHeaders.set(SEQUENCE_HEADER, String(message.sequence));
        return client.publish(`${this.#subjectPrefix}${message.subject}`, JSON.stringify(message.envelope), {
          msgID: message.id,
          headers: transportHeaders,
          timeout: timeoutMs,
        });
      });
      await withTimeout(Promise.all(acks), timeoutMs, 'JetStream publish acknowledgement');
    }
  }

  async #ensureStream(manager: JetStreamManager): Promise<void> {
    const config = {
      subjects: [`${this.#subjectPrefix}inventory.>`],
      duplicate_window: nanos(NATS_DUPLICATE_WINDOW_MS),
      max_msgs: this.#options.streamLengthMax,
      discard: DiscardPolicy.Old,
    };
    try {
      await manager.streams.info(this.#streamName);
    } catch (error) {
      if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
      await manager.streams.add({
        name: this.#streamName,
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        ...config,
      });
      this.#options.logger.info({ stream: this.#streamName }, 'JetStream stream created');
      return;
    }
    await manager.streams.update(this.#streamName, config);
  }

  async #ensureConsumer(manager: JetStreamManager, group: string): Promise<void> {
    const updatable = {
      ack_wait: nanos(this.#options.ackWaitMs ?? NATS_ACK_WAIT_MS),
      max_ack_pending: GROUP_IN_FLIGHT_MESSAGES_MAX,
      max_deliver: -1,
    };
    try {
      await manager.consumers.info(this.#streamName, group);
    } catch (error) {
      if (!isApiError(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
      await manager.consumers.add(this.#streamName, {
        durable_name: group,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
        ...updatable,
      });
      return;
    }
    await manager.consumers.update(this.#streamName, group, updatable);
  }

  async #watch(connection: NatsConnection): Promise<void> {
    const logger = this.#options.logger;
    try {
      for await (const status of connection.status()) {
        if (status.type === 'disconnect') logger.warn({ broker: 'nats' }, 'NATS disconnected; reconnecting');
        else if (status.type === 'reconnect') logger.info({ broker: 'nats' }, 'NATS reconnected');
        else if (status.type === 'error') logger.error({ broker: 'nats', err: status.error }, 'NATS error');
      }
    } catch (error) {
      logger.error({ broker: 'nats', err: error }, 'NATS status watch failed');
    }
  }
}

interface NatsSubscriptionOptions {
  client: JetStreamClient;
  streamName: string;
  group: string;
  handler: MessageHandler;
  subjectPrefix: string;
  redeliveryDelayMs: number;
  logger: BrokerLogger;
  onClosed(subscription: NatsSubscription): void;
}

/**
 * One member of a group. It pulls up to GROUP_IN_FLIGHT_MESSAGES_MAX messages ahead and handles
 * them one at a time in delivery order, acknowledging each without waiting. When a handler throws,
 * the member waits the redelivery delay and sends the message back, then sends back every message
 * it holds or receives until that one comes again: JetStream redelivers what is sent back before
 * anything new, in the order it was sent back, so the failed message comes again before the ones
 * behind it.
 */
class NatsSubscription implements Subscription {
  readonly #options: NatsSubscriptionOptions;
  readonly #stop = new AbortController();
  readonly #running: Promise<void>;
  #messages: ConsumerMessages | undefined;
  /**
   * A message sent back after its handler threw: whatever this member receives before it comes
   * again goes back too. Given up at `until`, should it have gone to another member.
   */
  #rewind: { sequence: number; until: number } | undefined;

  constructor(options: NatsSubscriptionOptions) {
    this.#options = options;
    this.#running = this.#run();
  }

  async close(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    // Ends the iteration after the message in hand; awaited through #running, which is bounded.
    void this.#messages?.close().catch(() => {});
    await withTimeout(this.#running, SUBSCRIPTION_CLOSE_WAIT_MS, 'NATS subscription close').catch((error) =>
      this.#options.logger.warn({ err: error, group: this.#options.group }, 'a handler outlived close()'),
    );
    this.#options.onClosed(this);
  }

  async #run(): Promise<void> {
    const { client, streamName, group, logger } = this.#options;
    let failures = 0;
    while (!this.#stop.signal.aborted) {
      try {
        const consumer = await client.consumers.get(streamName, group);
        const messages = await consumer.consume({ max_messages: GROUP_IN_FLIGHT_MESSAGES_MAX });
        if (this.#stop.signal.aborted) {
          // Not awaited: close() settles only once the iterator is read, and nobody will read it.
          void messages.close().catch(() => {});
          break;
        }
        // No await between here and the loop: close() can only end an iteration that has begun.
        this.#messages = messages;
        this.#rewind = undefined;
        for await (const message of messages) {
          // Closing: what this member pulled goes back to the group now, not after the ack wait.
          // The iteration ends once the messages pulled before close() are read.
          if (this.#stop.signal.aborted) {
            message.nak();
            continue;
          }
          if (this.#rewinding(message)) {
            message.nak();
            continue;
          }
          await this.#handle(message);
          failures = 0;
        }
      } catch (error) {
        if (this.#stop.signal.aborted) break;
        logger.warn({ err: error, broker: 'nats', group }, 'JetStream consumer stopped; restarting');
      }
      if (this.#stop.signal.aborted) break;
      failures += 1;
      await sleepUnlessAborted(
        jitteredBackoffMs(failures, CONSUME_RETRY_DELAY_MIN_MS, CONSUME_RETRY_DELAY_MAX_MS),
        this.#stop.signal,
      );
    }
  }

  /** Whether `message` goes back because it came before the one this member sent back. */
  #rewinding(message: JsMsg): boolean {
    const rewind = this.#rewind;
    if (rewind === undefined) return false;
    if (message.seq !== rewind.sequence && Date.now() < rewind.until) return true;
    this.#rewind = undefined;
    return false;
  }

  async #handle(delivered: JsMsg): Promise<void> {
    const { handler, logger, group } = this.#options;
    const message = this.#decode(delivered);
    if (message === undefined) {
      logger.error({ broker: 'nats', group, stream_sequence: delivered.seq }, 'undecodable message dropped');
      delivered.term();
      return;
    }
    try {
      await handler(message);
    } catch (error) {
      logger.warn({ err: error, broker: 'nats', group, id: message.id }, 'handler failed; redelivering');
      // Held here, not delayed by the server: a message the server holds back lets later ones pass.
      await sleepUnlessAborted(this.#options.redeliveryDelayMs, this.#stop.signal);
      delivered.nak();
      this.#rewind = { sequence: delivered.seq, until: Date.now() + REWIND_WAIT_MAX_MS };
      return;
    }
    // Not waited for: the next message would queue behind a round trip to the server for each ack
    // (a burst of n behind n). At least once: an ack lost on the way is a redelivery after the ack
    // wait, and the inbox drops the repeat.
    delivered.ack();
  }

  #decode(delivered: JsMsg): BrokerMessage | undefined {
    const transport = delivered.headers;
    const id = transport?.get(MESSAGE_ID_HEADER) ?? '';
    const sequence = Number(transport?.get(SEQUENCE_HEADER));
    const prefix = this.#options.subjectPrefix;
    if (id === '' || !Number.isSafeInteger(sequence) || !delivered.subject.startsWith(prefix))
      return undefined;
    let envelope: unknown;
    try {
      envelope = delivered.json<unknown>();
    } catch {
      return undefined;
    }
    if (!isCloudEvent(envelope)) return undefined;
    const carried: Record<string, string> = {};
    for (const name of transport?.keys() ?? []) {
      if (name === SEQUENCE_HEADER || name.startsWith('Nats-')) continue;
      carried[name] = transport?.get(name) ?? '';
    }
    return { id, subject: delivered.subject.slice(prefix.length), sequence, envelope, headers: carried };
  }
}

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}
