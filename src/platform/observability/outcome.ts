import { AppError } from '../http/problem.js';

/**
 * A bounded label for how an operation ended: `ok`, the stable code of a domain error
 * (`INSUFFICIENT_STOCK`, `VERSION_CONFLICT`…, a fixed catalogue), or `error` for anything else.
 */
export function outcomeOf(error: unknown): string {
  return error instanceof AppError ? error.code : 'error';
}

/** Awaits `work`, telling `record` its outcome; the result or error passes through unchanged. */
export async function recordOutcome<T>(work: Promise<T>, record: (outcome: string) => void): Promise<T> {
  try {
    const result = await work;
    record('ok');
    return result;
  } catch (error) {
    record(outcomeOf(error));
    throw error;
  }
}
