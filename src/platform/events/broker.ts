import type { CloudEvent } from './cloud-event.js';

/**
 * One event as it travels through a broker. `sequence` is its position in the event log (assigned
 * by the outbox relay, gap-free per publisher, increasing in publish order); `subject` is the routing
 * key: `inventory.<tenant>.<type>.<store_id or _>`, e.g. `inventory.default.stock.updated.MAD-001`.
 */
export interface BrokerMessage {
  id: string;
  subject: string;
  sequence: number;
  envelope: CloudEvent;
  /** Transport headers to carry along, e.g. W3C `traceparent`. */
  headers: Readonly<Record<string, string>>;
}

export type MessageHandler = (message: BrokerMessage) => Promise<void>;

export interface Subscription {
  close(): Promise<void>;
}

/**
 * The port every broker adapter implements: in-process, NATS JetStream, Redis Streams, RabbitMQ.
 *
 * - `publish` sends messages in the order given and resolves only when the broker acknowledged every
 *   one (persisted where the broker persists). It may be called again with the same messages after a
 *   failure: adapters de-duplicate by `id` where the broker can (JetStream's Nats-Msg-Id), and
 *   consumers de-duplicate through their inbox everywhere else.
 * - `consume` joins a durable consumer group: each message goes to one member of the group, at least
 *   once; it is redelivered until the handler resolves, and a handler that throws gets it again
 *   later, before the later ones it holds. Order: the in-process broker delivers in publish order to
 *   the whole group; NATS, Redis and RabbitMQ members work in parallel, so order holds per member
 *   (a single member sees publish order). Events carry their aggregate's `version`
 *   (and `sequence` in the headers) so a consumer with several members can drop stale ones.
 * - `removeGroup` deletes a durable group and what it still holds, for a consumer that is retired
 *   (or a measurement's own group); its members must have closed first. A group that does not
 *   exist is not an error. Joining the name again starts a new group at the end of the stream.
 * - `close` stops consuming and releases connections; in-flight publishes settle first.
 */
export interface Broker {
  readonly name: BrokerKind;
  connect(): Promise<void>;
  publish(messages: readonly BrokerMessage[]): Promise<void>;
  consume(group: string, handler: MessageHandler): Promise<Subscription>;
  removeGroup(group: string): Promise<void>;
  close(): Promise<void>;
}

export type BrokerKind = 'memory' | 'nats' | 'redis' | 'amqp';

/** A consumer group name valid as a NATS durable name, a Redis consumer group and an AMQP queue name alike. */
export const CONSUMER_GROUP_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** What every adapter is made with; each adds its own options. */
export interface BrokerConnectionOptions {
  url: string;
  /** Bounds the first connection; afterwards the adapters reconnect on their own. */
  connectTimeoutMs: number;
  /** A publish not acknowledged by then rejects, and the caller retries it. */
  publishTimeoutMs: number;
  logger: BrokerLogger;
}

/** What adapters log through: connection changes, retries, failures. */
export interface BrokerLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

/** The routing key of an event; store-less events (products) route under `_`. */
export function subjectOf(envelope: CloudEvent): string {
  const data = envelope.data as { store_id?: unknown; from_store_id?: unknown } | null;
  const storeId =
    typeof data?.store_id === 'string'
      ? data.store_id
      : typeof data?.from_store_id === 'string'
        ? data.from_store_id
        : '_';
  return `inventory.${envelope.tenantid}.${envelope.type}.${storeId}`;
}
