import type { Queryable } from '../../src/platform/db/database.js';
import { backlog } from '../../src/platform/events/outbox-store.js';
import { newId } from '../../src/platform/ids.js';
import type { BrokerUrls } from '../support/broker-servers.js';
import type { DatabaseKind } from '../support/database.js';
import { startService } from '../support/service.js';
import { round } from '../support/stats.js';
import { benchDatabase } from '../support/template.js';

/** The backlog an outage leaves behind, in the figure. */
const PENDING_EVENTS = 10_000;
const INSERT_BATCH = 1_000;
const DRAIN_TIMEOUT_MS = 120_000;

export interface DrainRow {
  broker: string;
  database: string;
  pending_events: number;
  drain_seconds: number;
  events_per_second: number;
}

/**
 * After an outage: the relay is stopped while 10,000 committed events pile up in the outbox, then
 * started again; the figure is how fast it sequences and publishes them all.
 */
async function drain(kind: DatabaseKind, broker: string, url: string | undefined): Promise<DrainRow> {
  const { database: copy } = await benchDatabase(kind);
  const service = await startService(copy, { brokerUrl: url }).catch(async (error: unknown) => {
    await copy.drop();
    throw error;
  });
  try {
    const { database, relay } = service.app;
    await relay.stop(0);
    for (let offset = 0; offset < PENDING_EVENTS; offset += INSERT_BATCH) {
      const ids = Array.from({ length: Math.min(INSERT_BATCH, PENDING_EVENTS - offset) }, () => newId());
      await database.schemaOwner().query(
        `INSERT INTO outbox_events (id, tenant_id, aggregate_type, aggregate_id, event_type, envelope)
         SELECT id, 'default', 'stock_level', 'bench:' || (ordinality % 50), 'stock.updated',
                jsonb_build_object('specversion', '1.0', 'id', id, 'source', '/bench', 'type', 'stock.updated',
                  'subject', 'bench', 'time', now(), 'datacontenttype', 'application/json', 'tenantid', 'default',
                  'correlationid', 'bench', 'data', jsonb_build_object('store_id', 'BENCH-001', 'n', ordinality))
           FROM unnest($1::uuid[]) WITH ORDINALITY AS pending(id, ordinality)`,
        [ids],
      );
    }
    const started = performance.now();
    await relay.start();
    const drained = await pendingReachesZero(database.schemaOwner(), DRAIN_TIMEOUT_MS);
    const seconds = (performance.now() - started) / 1000;
    if (!drained) throw new Error(`${broker}: the backlog did not drain within ${DRAIN_TIMEOUT_MS} ms`);
    return {
      broker,
      database: service.database,
      pending_events: PENDING_EVENTS,
      drain_seconds: round(seconds),
      events_per_second: Math.round(PENDING_EVENTS / seconds),
    };
  } finally {
    await service.stop();
    await copy.drop();
  }
}

async function pendingReachesZero(database: Queryable, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (Number((await backlog(database)).pending) === 0) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function outboxDrain(
  kind: DatabaseKind,
  brokerUrls: BrokerUrls,
  available: readonly string[],
): Promise<DrainRow[]> {
  const rows: DrainRow[] = [];
  for (const broker of available) {
    process.stdout.write(`outbox-drain: ${kind}, ${broker} …\n`);
    rows.push(await drain(kind, broker, brokerUrls[broker]));
  }
  return rows;
}
