import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Password hashing with scrypt (memory-hard, in node:crypto, no native addon). A stored hash
 * names its algorithm and parameters — `scrypt$<log2 N>$<r>$<p>$<salt>$<hash>`, base64url — so
 * the parameters can be raised later while old hashes still verify.
 */
const ALGORITHM = 'scrypt';
/** N = 2^15, r = 8: 32 MiB and tens of milliseconds per hash (OWASP's scrypt baseline). */
export const SCRYPT_LOG2_COST = 15;
export const SCRYPT_BLOCK_SIZE = 8;
export const SCRYPT_PARALLELISM = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Hashes stored with other parameters must stay verifiable, within a bound on memory. */
const SCRYPT_LOG2_COST_MAX = 20;
const SCRYPT_MEMORY_MAX_BYTES = 256 * 1024 * 1024;
export const PASSWORD_LENGTH_MIN = 10;
/** Bounds the work an attacker can make us do per login attempt. */
export const PASSWORD_LENGTH_MAX = 256;

interface ScryptParameters {
  log2Cost: number;
  blockSize: number;
  parallelism: number;
}

const CURRENT: ScryptParameters = {
  log2Cost: SCRYPT_LOG2_COST,
  blockSize: SCRYPT_BLOCK_SIZE,
  parallelism: SCRYPT_PARALLELISM,
};

/** Async scrypt runs on the libuv pool: a login never blocks the event loop. */
function derive(password: string, salt: Buffer, parameters: ScryptParameters): Promise<Buffer> {
  const options: ScryptOptions = {
    N: 2 ** parameters.log2Cost,
    r: parameters.blockSize,
    p: parameters.parallelism,
    maxmem: SCRYPT_MEMORY_MAX_BYTES,
  };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, KEY_BYTES, options, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, CURRENT);
  return [
    ALGORITHM,
    CURRENT.log2Cost,
    CURRENT.blockSize,
    CURRENT.parallelism,
    salt.toString('base64url'),
    key.toString('base64url'),
  ].join('$');
}

/** False for a wrong password and for a hash this code cannot read; never throws on bad input. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  const [algorithm, log2Cost, blockSize, parallelism, salt, key] = parts;
  if (parts.length !== 6 || algorithm !== ALGORITHM || salt === undefined || key === undefined) return false;
  const parameters = {
    log2Cost: Number(log2Cost),
    blockSize: Number(blockSize),
    parallelism: Number(parallelism),
  };
  const sane =
    Number.isInteger(parameters.log2Cost) &&
    parameters.log2Cost >= 1 &&
    parameters.log2Cost <= SCRYPT_LOG2_COST_MAX &&
    Number.isInteger(parameters.blockSize) &&
    parameters.blockSize >= 1 &&
    Number.isInteger(parameters.parallelism) &&
    parameters.parallelism >= 1;
  if (!sane) return false;
  const expected = Buffer.from(key, 'base64url');
  if (expected.length !== KEY_BYTES) return false;
  const actual = await derive(password, Buffer.from(salt, 'base64url'), parameters);
  return timingSafeEqual(actual, expected);
}

let dummyHash: Promise<string> | undefined;

/**
 * A hash of a random password, made once: a login for an unknown email verifies against it, so
 * it costs the same time as a wrong password and does not reveal which emails exist.
 */
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword(randomBytes(SALT_BYTES).toString('base64url')).catch((error: unknown) => {
    dummyHash = undefined;
    throw error;
  });
  return dummyHash;
}

/** Whether a stored hash uses weaker parameters than today's (rehash it at the next login). */
export function needsRehash(stored: string): boolean {
  const [algorithm, log2Cost, blockSize, parallelism] = stored.split('$');
  return (
    algorithm !== ALGORITHM ||
    Number(log2Cost) !== CURRENT.log2Cost ||
    Number(blockSize) !== CURRENT.blockSize ||
    Number(parallelism) !== CURRENT.parallelism
  );
}
