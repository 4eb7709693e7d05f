import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config.js';
import { currentLogContext } from './observability/log-context.js';
import { activeTraceId } from './observability/tracing.js';

/**
 * Where credentials could appear in what we log: request headers, and fields of logged objects
 * (one and two levels deep). pino's redaction is path-based, so each place is named.
 */
const SECRET_FIELDS = [
  'password',
  'new_password',
  'current_password',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'secret',
  'secrets',
  'signing_secret',
  'api_key',
  'apiKey',
  'authorization',
  'cookie',
];
const SECRET_HEADERS = [
  'authorization',
  '["x-api-key"]',
  'cookie',
  '["set-cookie"]',
  '["proxy-authorization"]',
];
export const REDACTED_PATHS = [
  ...SECRET_HEADERS.flatMap((header) => [
    `req.headers${header.startsWith('[') ? header : `.${header}`}`,
    `res.headers${header.startsWith('[') ? header : `.${header}`}`,
    `headers${header.startsWith('[') ? header : `.${header}`}`,
  ]),
  ...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]),
];

/**
 * Structured JSON logs; credentials never reach a log line. Every line written while a request or
 * an event is being handled carries its request id, correlation id and trace id (see log-context.ts).
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'omnistock' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    mixin: logContextFields,
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}

/** The fields of the unit of work under way; the active span's trace id wins over a remembered one. */
export function logContextFields(): Record<string, string> {
  const current = currentLogContext();
  const traceId = activeTraceId() ?? current?.traceId;
  if (current === undefined && traceId === undefined) return {};
  const fields: Record<string, string> = {};
  if (current?.requestId !== undefined) fields['request_id'] = current.requestId;
  if (current?.correlationId !== undefined) fields['correlation_id'] = current.correlationId;
  if (traceId !== undefined) fields['trace_id'] = traceId;
  if (current?.tenant !== undefined) fields['tenant'] = current.tenant;
  if (current?.eventId !== undefined) fields['event_id'] = current.eventId;
  return fields;
}
