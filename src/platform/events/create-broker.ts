import { AmqpBroker } from './amqp-broker.js';
import type { Broker, BrokerConnectionOptions } from './broker.js';
import { MemoryBroker } from './memory-broker.js';
import { NatsBroker } from './nats-broker.js';
import { REDIS_STREAM_LENGTH_MAX, RedisBroker } from './redis-broker.js';

export interface CreateBrokerOptions extends Omit<BrokerConnectionOptions, 'url'> {
  /** Messages kept by NATS and Redis; a group lagging further behind loses the oldest. */
  streamLengthMax?: number;
}

/**
 * Picks the adapter from `BROKER_URL`: none → in-process; `nats://` → JetStream; `redis://` or
 * `rediss://` → Redis Streams; `amqp://` or `amqps://` → RabbitMQ. The broker is returned
 * unconnected: the caller decides when to `connect()` and how to treat a failure.
 */
export function createBroker(url: string | undefined, options: CreateBrokerOptions): Broker {
  if (url === undefined) return new MemoryBroker();
  assertPositive('connectTimeoutMs', options.connectTimeoutMs);
  assertPositive('publishTimeoutMs', options.publishTimeoutMs);
  const streamLengthMax = options.streamLengthMax ?? REDIS_STREAM_LENGTH_MAX;
  assertPositive('streamLengthMax', streamLengthMax);
  const common = {
    url,
    connectTimeoutMs: options.connectTimeoutMs,
    publishTimeoutMs: options.publishTimeoutMs,
    logger: options.logger,
  };
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new Error(`BROKER_URL is not a URL: ${redact(url)}`);
  }
  switch (protocol) {
    case 'nats:':
      return new NatsBroker({ ...common, streamLengthMax });
    case 'redis:':
    case 'rediss:':
      return new RedisBroker({ ...common, streamLengthMax });
    case 'amqp:':
    case 'amqps:':
      return new AmqpBroker(common);
    default:
      throw new Error(
        `BROKER_URL ${redact(url)} has an unsupported scheme '${protocol}': use nats://, redis://, rediss://, amqp:// or amqps://`,
      );
  }
}

function assertPositive(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new Error(`${name} must be a positive integer, got ${value}`);
}

/** Error messages end up in logs: keep the password out of them. */
function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}
