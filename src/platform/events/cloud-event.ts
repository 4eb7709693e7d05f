/**
 * CloudEvents 1.0, JSON structured mode. Extension attributes are lowercase alphanumerics as the
 * spec requires: `tenantid`, `correlationid` and, when a trace is active, `traceparent`.
 */
export interface CloudEvent<Data = unknown> {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  tenantid: string;
  correlationid: string;
  traceparent?: string;
  data: Data;
}

export const EVENT_SOURCE = '/omnistock';

/** Whether a decoded broker payload looks like one of our envelopes (a cheap check, not a schema). */
export function isCloudEvent(value: unknown): value is CloudEvent {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<CloudEvent>;
  return (
    candidate.specversion === '1.0' && typeof candidate.id === 'string' && typeof candidate.type === 'string'
  );
}
