import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import { AppError, HttpErrors } from './problem.js';

export interface LoadSheddingOptions {
  /** Mean event-loop delay over a sample above which requests are refused; 0 turns shedding off. */
  eventLoopDelayMaxMs: number;
}

/** How often the event loop's delay is sampled: shedding starts and stops within about this. */
const SAMPLE_INTERVAL_MS = 250;
const RETRY_AFTER_SECONDS = 1;

/**
 * Under event-loop saturation every request already admitted slows down together; refusing new
 * ones at once with 503 + Retry-After keeps the admitted ones fast and tells clients (and load
 * balancers) to go elsewhere or come back. Registered on the API scope only: /health, /ready and
 * /metrics keep answering, so an overloaded instance is not mistaken for a dead one.
 */
export async function registerLoadShedding(
  scope: FastifyInstance,
  options: LoadSheddingOptions,
): Promise<void> {
  if (options.eventLoopDelayMaxMs === 0) return;
  await scope.register(underPressure, {
    maxEventLoopDelay: options.eventLoopDelayMaxMs,
    sampleInterval: SAMPLE_INTERVAL_MS,
    pressureHandler: async (_request, _reply, type) => {
      throw new AppError(
        HttpErrors.overloaded,
        `The service is overloaded (${type}); retry shortly`,
        {},
        { 'retry-after': String(RETRY_AFTER_SECONDS) },
      );
    },
  });
}
