import type { ServerResponse } from 'node:http';
import type { Database } from '../../platform/db/database.js';
import type { EventLogTail } from '../../platform/events/event-log-tail.js';
import { readEventLog, type SequencedEvent } from '../../platform/events/outbox-store.js';
import { type EventFilter, matchesFilter } from './event-filter.js';

/** A client that cannot keep up is cut off past this much unsent data; it resumes with Last-Event-ID. */
export const SSE_CLIENT_BUFFER_BYTES_MAX = 1024 * 1024;
export const SSE_HEARTBEAT_INTERVAL_MS = 15_000;
const CATCH_UP_PAGE_SIZE = 500;
/** Asks browsers to reconnect after this long when the connection drops. */
const SSE_RETRY_MS = 2_000;

interface StreamClient {
  filter: EventFilter;
  response: ServerResponse;
  /** Sequence of the last event written (or skipped as filtered). */
  lastSequence: number;
  /** Live events that arrived while the client was catching up from the log. */
  pending: SequencedEvent[] | null;
}

export class TooManyStreamsError extends Error {
  override name = 'TooManyStreamsError';
}

/**
 * Server-Sent Events over the event log. A client resuming with Last-Event-ID first reads what it
 * missed from the log, then follows the live tail; events are written once each, in sequence order,
 * with `id:` = the event-log sequence, so a browser EventSource resumes by itself.
 */
export class EventStreamHub {
  readonly #clients = new Set<StreamClient>();
  readonly #unsubscribe: () => void;
  readonly #heartbeat: NodeJS.Timeout;

  constructor(
    private readonly database: Database,
    private readonly tail: EventLogTail,
    private readonly clientsMax: number,
  ) {
    this.#unsubscribe = tail.subscribe((events) => {
      for (const client of this.#clients) this.#deliver(client, events);
    });
    this.#heartbeat = setInterval(() => {
      for (const client of this.#clients) this.#write(client, ': keep-alive\n\n');
    }, SSE_HEARTBEAT_INTERVAL_MS);
    this.#heartbeat.unref();
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  get hasCapacity(): boolean {
    return this.#clients.size < this.clientsMax;
  }

  /** Starts streaming to `response` (already hijacked); resolves once the catch-up is written. */
  async open(filter: EventFilter, response: ServerResponse, resumeAfter: number | undefined): Promise<void> {
    if (this.#clients.size >= this.clientsMax)
      throw new TooManyStreamsError('too many live streams on this instance');
    const client: StreamClient = {
      filter,
      response,
      lastSequence: resumeAfter ?? this.tail.position,
      pending: resumeAfter === undefined ? null : [],
    };
    this.#clients.add(client);
    response.on('close', () => this.#clients.delete(client));
    this.#write(client, `retry: ${SSE_RETRY_MS}\n\n`);
    if (resumeAfter !== undefined) await this.#catchUp(client);
  }

  closeAll(): void {
    this.#unsubscribe();
    clearInterval(this.#heartbeat);
    for (const client of this.#clients) client.response.end();
    this.#clients.clear();
  }

  async #catchUp(client: StreamClient): Promise<void> {
    try {
      for (;;) {
        const events = await readEventLog(this.database.forTenant(client.filter.tenantId), {
          tenantId: client.filter.tenantId,
          afterSequence: client.lastSequence,
          limit: CATCH_UP_PAGE_SIZE,
        });
        this.#writeEvents(client, events);
        if (events.length < CATCH_UP_PAGE_SIZE || !this.#clients.has(client)) break;
      }
    } finally {
      const pending = client.pending ?? [];
      client.pending = null;
      this.#writeEvents(client, pending);
    }
  }

  #deliver(client: StreamClient, events: readonly SequencedEvent[]): void {
    if (client.pending !== null) {
      client.pending.push(...events);
      return;
    }
    this.#writeEvents(client, events);
  }

  #writeEvents(client: StreamClient, events: readonly SequencedEvent[]): void {
    for (const event of events) {
      if (event.sequence <= client.lastSequence) continue;
      client.lastSequence = event.sequence;
      if (!matchesFilter(client.filter, event.tenant_id, event.envelope)) continue;
      const payload = JSON.stringify({ ...event.envelope, sequence: event.sequence });
      this.#write(client, `id: ${event.sequence}\nevent: ${event.envelope.type}\ndata: ${payload}\n\n`);
    }
  }

  #write(client: StreamClient, chunk: string): void {
    if (client.response.writableEnded || client.response.destroyed) {
      this.#clients.delete(client);
      return;
    }
    if (client.response.writableLength > SSE_CLIENT_BUFFER_BYTES_MAX) {
      this.#clients.delete(client);
      client.response.destroy();
      return;
    }
    client.response.write(chunk);
  }
}
