import type { Database } from '../../platform/db/database.js';
import { type Broker, type BrokerMessage, subjectOf } from '../../platform/events/broker.js';
import { backlog, readEventLog, type SequencedEvent } from '../../platform/events/outbox-store.js';
import { newId } from '../../platform/ids.js';

/** Events re-published by one replay request; a larger replay is several requests, by position. */
export const REPLAY_EVENTS_MAX = 50_000;
const REPLAY_PAGE_SIZE = 500;

export interface RelayStatus {
  broker: string;
  breakerState: string;
}

/** The event log as an API: paging, backlog figures, and replay to the broker. */
export class EventsService {
  constructor(
    private readonly database: Database,
    private readonly broker: Broker,
    private readonly relayStatus: () => RelayStatus,
  ) {}

  async page(tenantId: string, afterSequence: number, limit: number, types: readonly string[] | undefined) {
    return readEventLog(this.database.forTenant(tenantId), { tenantId, afterSequence, limit, types });
  }

  async pending(tenantId: string) {
    const figures = await backlog(this.database.forTenant(tenantId), tenantId);
    const oldest = figures.oldest_pending_created_at;
    const status = this.relayStatus();
    return {
      pending: Number(figures.pending),
      unsequenced: Number(figures.unsequenced),
      abandoned: Number(figures.abandoned),
      oldest_pending_age_seconds:
        oldest === null ? 0 : Math.max(0, Math.floor((Date.now() - oldest.getTime()) / 1000)),
      broker: status.broker,
      breaker_state: status.breakerState,
    };
  }

  /**
   * Re-publishes the tenant's events after `afterSequence` (or since `since`) to the broker, in order.
   * Each replayed message gets its own message id, so brokers that de-duplicate by id deliver it again;
   * the CloudEvent id is unchanged, so consumers with an inbox still apply it once.
   */
  async replayToBroker(tenantId: string, from: { afterSequence?: number; since?: Date }) {
    const replayId = newId();
    let afterSequence = from.afterSequence ?? (await this.#sequenceBefore(tenantId, from.since));
    const firstSequence = afterSequence + 1;
    let replayed = 0;
    while (replayed < REPLAY_EVENTS_MAX) {
      const limit = Math.min(REPLAY_PAGE_SIZE, REPLAY_EVENTS_MAX - replayed);
      const events = await readEventLog(this.database.forTenant(tenantId), {
        tenantId,
        afterSequence,
        limit,
      });
      if (events.length === 0) break;
      await this.broker.publish(events.map((event) => replayMessage(event, replayId)));
      replayed += events.length;
      afterSequence = (events.at(-1) as SequencedEvent).sequence;
      if (events.length < limit) break;
    }
    return {
      replay_id: replayId,
      replayed,
      from_sequence: firstSequence,
      last_sequence: afterSequence,
      complete: replayed < REPLAY_EVENTS_MAX,
    };
  }

  async #sequenceBefore(tenantId: string, since: Date | undefined): Promise<number> {
    if (since === undefined) return 0;
    const result = await this.database
      .forTenant(tenantId)
      .query<{ sequence: number | null }>(
        `SELECT max(sequence) AS sequence FROM outbox_events WHERE tenant_id = $1 AND sequence IS NOT NULL AND created_at < $2`,
        [tenantId, since],
      );
    return result.rows[0]?.sequence ?? 0;
  }
}

function replayMessage(event: SequencedEvent, replayId: string): BrokerMessage {
  const headers: Record<string, string> = { 'omnistock-replay-id': replayId };
  if (event.envelope.traceparent !== undefined) headers['traceparent'] = event.envelope.traceparent;
  return {
    id: `${event.id}:replay:${replayId}`,
    subject: subjectOf(event.envelope),
    sequence: event.sequence,
    envelope: event.envelope,
    headers,
  };
}
