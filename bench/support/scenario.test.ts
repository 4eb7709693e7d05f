import { afterEach, describe, expect, it } from 'vitest';
import { numberFromEnvironment } from './scenario.js';

const NAME = 'BENCH_TEST_NUMBER';

afterEach(() => {
  delete process.env[NAME];
});

describe("the bench's numeric settings", () => {
  it('take the fallback when unset or empty, and the value when it is a number at least the minimum', () => {
    expect(numberFromEnvironment(NAME, 10, 1)).toBe(10);
    process.env[NAME] = '';
    expect(numberFromEnvironment(NAME, 10, 1)).toBe(10);
    process.env[NAME] = '2.5';
    expect(numberFromEnvironment(NAME, 10, 1)).toBe(2.5);
    process.env[NAME] = '0';
    expect(numberFromEnvironment(NAME, 5, 0)).toBe(0);
  });

  it('stop the bench on a value that is not a number, or below the minimum', () => {
    for (const raw of ['ten', '10s', 'Infinity', '0.5', '-1']) {
      process.env[NAME] = raw;
      expect(() => numberFromEnvironment(NAME, 10, 1)).toThrow(
        `${NAME} must be a number of at least 1, got "${raw}"`,
      );
    }
  });
});
