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
