import type { CloudEvent } from '../../platform/events/cloud-event.js';

/** Subscribes an endpoint to every event type. */
export const WILDCARD_EVENT_TYPE = '*';

export interface EndpointFilter {
  event_types: readonly string[];
  /** null: every store. */
  store_ids: readonly string[] | null;
}

/** The stores an event is about: a level's store, or both ends of a transfer. */
export function storesOf(envelope: CloudEvent): string[] {
  const data = envelope.data;
  if (typeof data !== 'object' || data === null) return [];
  const fields = data as Record<string, unknown>;
  const stores: string[] = [];
  for (const key of ['store_id', 'from_store_id', 'to_store_id']) {
    const value = fields[key];
    if (typeof value === 'string' && !stores.includes(value)) stores.push(value);
  }
  return stores;
}

/**
 * Whether an endpoint wants an event: its type is listed (or `*`), and, when the endpoint filters
 * by store, the event is about one of them. Events about no store (product changes) concern every
 * store, so a store filter lets them through.
 */
export function endpointMatches(filter: EndpointFilter, envelope: CloudEvent): boolean {
  const typeWanted =
    filter.event_types.includes(WILDCARD_EVENT_TYPE) || filter.event_types.includes(envelope.type);
  if (!typeWanted) return false;
  if (filter.store_ids === null) return true;
  const stores = storesOf(envelope);
  if (stores.length === 0) return true;
  return stores.some((store) => filter.store_ids?.includes(store));
}
