import { describe, expect, it } from 'vitest';
import type { CloudEvent } from '../../platform/events/cloud-event.js';
import { endpointMatches, storesOf } from './event-matching.domain.js';

function event(type: string, data: unknown): CloudEvent {
  return {
    specversion: '1.0',
    id: '0190a0e2-0000-7000-8000-000000000001',
    source: '/omnistock',
    type,
    subject: 'x',
    time: new Date(0).toISOString(),
    datacontenttype: 'application/json',
    tenantid: 'default',
    correlationid: 'c',
    data,
  };
}

const stockUpdated = event('stock.updated', { store_id: 'MAD-001', product_id: 'p' });
const transfer = event('stock.transferred', { from_store_id: 'MAD-001', to_store_id: 'BCN-001' });
const productUpdated = event('product.updated', { product_id: 'p' });

describe('which endpoints want an event', () => {
  it('matches exact types and the wildcard', () => {
    expect(endpointMatches({ event_types: ['stock.updated'], store_ids: null }, stockUpdated)).toBe(true);
    expect(endpointMatches({ event_types: ['stock.created'], store_ids: null }, stockUpdated)).toBe(false);
    expect(endpointMatches({ event_types: ['stock'], store_ids: null }, stockUpdated)).toBe(false);
    expect(endpointMatches({ event_types: ['*'], store_ids: null }, productUpdated)).toBe(true);
  });

  it('filters by the store an event is about, either end of a transfer', () => {
    expect(endpointMatches({ event_types: ['*'], store_ids: ['MAD-001'] }, stockUpdated)).toBe(true);
    expect(endpointMatches({ event_types: ['*'], store_ids: ['VAL-001'] }, stockUpdated)).toBe(false);
    expect(endpointMatches({ event_types: ['*'], store_ids: ['BCN-001'] }, transfer)).toBe(true);
    expect(endpointMatches({ event_types: ['*'], store_ids: ['VAL-001'] }, transfer)).toBe(false);
  });

  it('lets events about no store through a store filter: they concern every store', () => {
    expect(
      endpointMatches({ event_types: ['product.updated'], store_ids: ['VAL-001'] }, productUpdated),
    ).toBe(true);
  });

  it('reads the stores of an event without trusting its shape', () => {
    expect(storesOf(transfer)).toEqual(['MAD-001', 'BCN-001']);
    expect(storesOf(event('x.y', null))).toEqual([]);
    expect(storesOf(event('x.y', { store_id: 7 }))).toEqual([]);
    expect(storesOf(event('x.y', { from_store_id: 'A-1', to_store_id: 'A-1' }))).toEqual(['A-1']);
  });
});
