import { createHash, hash, randomBytes, timingSafeEqual } from 'node:crypto';

const API_KEY_PREFIX = 'osk_';
const API_KEY_RANDOM_BYTES = 32;
/** How much of a key is kept in clear to tell keys apart in listings. */
const DISPLAY_PREFIX_LENGTH = 12;

/** A new API key: 256 random bits, recognisable by its prefix in logs and secret scanners. */
export function generateApiKey(): string {
  return `${API_KEY_PREFIX}${randomBytes(API_KEY_RANDOM_BYTES).toString('base64url')}`;
}

/**
 * Keys are stored as SHA-256. They carry 256 bits of entropy (or, for an operator-chosen key, at
 * least 24 characters), so a slow password hash adds nothing but latency on every request.
 */
export function hashApiKey(key: string): string {
  return hash('sha256', key, 'hex');
}

export function displayPrefixOf(key: string): string {
  return key.slice(0, DISPLAY_PREFIX_LENGTH);
}

/** Constant-time equality for secrets of any length. */
export function secretsEqual(left: string, right: string): boolean {
  const leftDigest = createHash('sha256').update(left).digest();
  const rightDigest = createHash('sha256').update(right).digest();
  return timingSafeEqual(leftDigest, rightDigest);
}
