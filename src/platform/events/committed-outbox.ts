import type { CloudEvent } from './cloud-event.js';

export type CommittedEventsListener = (events: readonly CloudEvent[]) => void;

/**
 * The in-process signal that outbox rows committed, raised by the committing transaction itself
 * (after COMMIT, before the request answers). It lets this instance act at once — wake the relay,
 * drop cache entries — where NOTIFY and the event-log tail reach every instance a moment later.
 * Process-wide on purpose: whatever in this process committed, every listener in it hears.
 */
class CommittedOutboxSignal {
  readonly #listeners = new Set<CommittedEventsListener>();

  subscribe(listener: CommittedEventsListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(events: readonly CloudEvent[]): void {
    for (const listener of this.#listeners) listener(events);
  }
}

export const committedOutbox = new CommittedOutboxSignal();
