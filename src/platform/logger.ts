import pino, { type Logger } from 'pino';
import type { LogLevel } from '../config.js';

/** Structured JSON logs; credentials never reach a log line. */
export function createLogger(level: LogLevel): Logger {
  return pino({
    level,
    base: { service: 'omnistock' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["x-api-key"]',
        'req.headers.cookie',
        '*.password',
        '*.api_key',
      ],
      censor: '[redacted]',
    },
  });
}
