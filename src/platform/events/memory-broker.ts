import type { Broker, BrokerMessage, MessageHandler, Subscription } from './broker.js';

/** Messages kept per group while its consumer is slow or absent; beyond this, publishing waits. */
export const MEMORY_BROKER_QUEUE_LENGTH_MAX = 100_000;
const REDELIVERY_DELAY_MS = 500;

interface Group {
  queue: BrokerMessage[];
  handlers: MessageHandler[];
  draining: boolean;
  nextHandler: number;
}

/**
 * The embedded default: an in-process broker. Nothing survives the process, which is fine: the
 * outbox is the durable copy, and the relay republishes whatever was not acknowledged. Groups get
 * every message published after they were created, in order, one member at a time.
 */
export class MemoryBroker implements Broker {
  readonly name = 'memory' as const;
  readonly #groups = new Map<string, Group>();
  #closed = false;

  async connect(): Promise<void> {}

  async publish(messages: readonly BrokerMessage[]): Promise<void> {
    if (this.#closed) throw new Error('the in-process broker is closed');
    for (const group of this.#groups.values()) {
      if (group.queue.length + messages.length > MEMORY_BROKER_QUEUE_LENGTH_MAX) {
        throw new Error('an in-process consumer group is full; retry later');
      }
    }
    for (const group of this.#groups.values()) {
      group.queue.push(...messages);
      this.#drain(group);
    }
  }

  async consume(groupName: string, handler: MessageHandler): Promise<Subscription> {
    let group = this.#groups.get(groupName);
    if (group === undefined) {
      group = { queue: [], handlers: [], draining: false, nextHandler: 0 };
      this.#groups.set(groupName, group);
    }
    group.handlers.push(handler);
    const joined = group;
    return {
      close: async () => {
        joined.handlers = joined.handlers.filter((candidate) => candidate !== handler);
      },
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#groups.clear();
  }

  #drain(group: Group): void {
    if (group.draining) return;
    group.draining = true;
    void (async () => {
      try {
        while (group.queue.length > 0 && group.handlers.length > 0 && !this.#closed) {
          const message = group.queue[0] as BrokerMessage;
          const handler = group.handlers[group.nextHandler % group.handlers.length] as MessageHandler;
          group.nextHandler += 1;
          try {
            await handler(message);
            group.queue.shift();
          } catch {
            // At least once: the same message again, after a pause, before any later one.
            await new Promise((resolve) => setTimeout(resolve, REDELIVERY_DELAY_MS).unref());
          }
        }
      } finally {
        group.draining = false;
      }
    })();
  }
}
