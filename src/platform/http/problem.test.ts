import { describe, expect, it } from 'vitest';
import { AppError, defineError, HttpErrors } from './problem.js';

const framesOf = (error: Error) =>
  (error.stack ?? '').split('\n').filter((line) => line.trimStart().startsWith('at '));

describe('AppError', () => {
  it('captures no stack for a refusal the client caused, and keeps one for a fault of the service', () => {
    const limit = Error.stackTraceLimit;
    const refusal = new AppError(defineError('OUT_OF_STOCK', 409, 'Not enough stock'), 'only 0 left', {
      available: 0,
    });
    expect(framesOf(refusal)).toEqual([]);
    expect(refusal.stack).toContain('only 0 left');
    expect(refusal).toMatchObject({ status: 409, code: 'OUT_OF_STOCK', extensions: { available: 0 } });

    const fault = new AppError(HttpErrors.unavailable, 'the database did not answer');
    expect(framesOf(fault).length).toBeGreaterThan(0);
    expect(Error.stackTraceLimit).toBe(limit);
    expect(framesOf(new Error('an ordinary error')).length).toBeGreaterThan(0);
  });
});
