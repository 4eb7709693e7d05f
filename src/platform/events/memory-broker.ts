import {
  type Broker,
  type BrokerMessage,
  CONSUMER_GROUP_PATTERN,
  type MessageHandler,
  type Subscription,
} from './broker.js';

/** Messages kept per group while its consumer is slow or absent; beyond this, publishing fails. */
export const MEMORY_BROKER_QUEUE_LENGTH_MAX = 100_000;
const REDELIVERY_DELAY_MS = 500;

interface Delivery {
  message: BrokerMessage;
  handled: () => void;
}

interface Group {
  queue: Delivery[];
  handlers: MessageHandler[];
  draining: boolean;
  nextHandler: number;
}

/**
 * The embedded default: an in-process broker. It keeps nothing itself, so it acknowledges a publish
 * only once every consumer group has handled the messages: until then the outbox row stays
 * unsynced, and a process that stops meanwhile republishes it on its next start. Groups get every
 * message published after they were created, in order, one member at a time, at least once; a
 * group ends when its last member leaves.
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
    const handled: Promise<void>[] = [];
    for (const group of this.#groups.values()) {
      for (const message of messages) {
        handled.push(new Promise<void>((resolve) => group.queue.push({ message, handled: resolve })));
      }
      this.#drain(group);
    }
    await Promise.all(handled);
  }

  async consume(groupName: string, handler: MessageHandler): Promise<Subscription> {
    if (!CONSUMER_GROUP_PATTERN.test(groupName)) throw new Error(`invalid consumer group name: ${groupName}`);
    let group = this.#groups.get(groupName);
    if (group === undefined) {
      group = { queue: [], handlers: [], draining: false, nextHandler: 0 };
      this.#groups.set(groupName, group);
    }
    group.handlers.push(handler);
    const joined = group;
    this.#drain(joined);
    return {
      close: async () => {
        joined.handlers = joined.handlers.filter((candidate) => candidate !== handler);
        // A group lives only as long as a member does: nothing in-process could resume it later.
        if (joined.handlers.length === 0 && this.#groups.get(groupName) === joined) {
          this.#groups.delete(groupName);
          for (const delivery of joined.queue.splice(0)) delivery.handled();
        }
      },
    };
  }

  /** A group already ends with its last member; removing one drops its queue now. */
  async removeGroup(groupName: string): Promise<void> {
    if (!CONSUMER_GROUP_PATTERN.test(groupName)) throw new Error(`invalid consumer group name: ${groupName}`);
    const group = this.#groups.get(groupName);
    if (group === undefined) return;
    this.#groups.delete(groupName);
    for (const delivery of group.queue.splice(0)) delivery.handled();
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
          const delivery = group.queue[0] as Delivery;
          const handler = group.handlers[group.nextHandler % group.handlers.length] as MessageHandler;
          group.nextHandler += 1;
          try {
            await handler(delivery.message);
            group.queue.shift();
            delivery.handled();
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
