import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Secrets at rest (ADR 0018): AES-256-GCM with a random 96-bit IV per value and the 128-bit tag
 * checked on every open. A sealed value names the key that sealed it, so keys rotate: the first
 * key seals, every listed key opens, and `needsResealing` finds what an older key still holds.
 *
 * Each value is bound to where it is stored (`context`, authenticated but not encrypted): a value
 * copied into another row, or another tenant's row, does not open.
 *
 * Format: `enc:v1:<key id>:<iv>:<ciphertext>:<tag>`, the last three base64url.
 */
export const SEALED_PREFIX = 'enc:v1:';
export const SECRET_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const CIPHER = 'aes-256-gcm';
export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
/** Bounded so that a configuration typo cannot make every open walk a huge list. */
export const SECRET_KEYS_MAX = 16;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export interface SecretKey {
  id: string;
  key: Buffer;
}

export class SecretBoxError extends Error {
  override name = 'SecretBoxError';
}

/**
 * Parses `<kid>:<base64 of 32 bytes>[,<kid>:<base64>…]`, the format of SECRETS_ENCRYPTION_KEYS and
 * of the embedded key file. Throws with what is wrong, never with the key material.
 */
export function parseSecretKeys(text: string): SecretKey[] {
  const entries = text
    .split(/[,\n]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) throw new SecretBoxError('no key given');
  if (entries.length > SECRET_KEYS_MAX) throw new SecretBoxError(`more than ${SECRET_KEYS_MAX} keys`);
  const keys: SecretKey[] = [];
  for (const [index, entry] of entries.entries()) {
    const separator = entry.indexOf(':');
    const id = separator < 0 ? '' : entry.slice(0, separator);
    const encoded = separator < 0 ? '' : entry.slice(separator + 1);
    if (!KEY_ID_PATTERN.test(id)) {
      throw new SecretBoxError(`key ${index + 1}: expected <id>:<base64>, the id 1-32 of A-Z a-z 0-9 _ -`);
    }
    const key = Buffer.from(encoded, 'base64');
    if (!BASE64.test(encoded) || key.length !== SECRET_KEY_BYTES) {
      throw new SecretBoxError(`key ${id}: expected the base64 of exactly ${SECRET_KEY_BYTES} bytes`);
    }
    if (keys.some((known) => known.id === id)) throw new SecretBoxError(`key id ${id} appears twice`);
    keys.push({ id, key });
  }
  return keys;
}

/** A fresh key in the list format: `<id>:<base64>`. */
export function generateSecretKey(id: string): string {
  if (!KEY_ID_PATTERN.test(id)) throw new SecretBoxError(`invalid key id ${id}`);
  return `${id}:${randomBytes(SECRET_KEY_BYTES).toString('base64')}`;
}

export function isSealed(value: string): boolean {
  return value.startsWith(SEALED_PREFIX);
}

export class SecretBox {
  readonly #keys: ReadonlyMap<string, Buffer>;
  /** The key that seals; the others only open. */
  readonly currentKeyId: string;

  constructor(keys: readonly SecretKey[]) {
    const first = keys[0];
    if (first === undefined) throw new SecretBoxError('a secret box needs at least one key');
    for (const { key } of keys) {
      if (key.length !== SECRET_KEY_BYTES) throw new SecretBoxError('keys are 32 bytes (AES-256)');
    }
    this.#keys = new Map(keys.map(({ id, key }) => [id, Buffer.from(key)]));
    this.currentKeyId = first.id;
  }

  seal(plaintext: string, context: string): string {
    const key = this.#keys.get(this.currentKeyId) as Buffer;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return `${SEALED_PREFIX}${this.currentKeyId}:${iv.toString('base64url')}:${ciphertext.toString('base64url')}:${tag.toString('base64url')}`;
  }

  /** The plaintext; throws when the value is malformed, its key unknown, or it was altered or moved. */
  open(sealed: string, context: string): string {
    const { keyId, iv, ciphertext, tag } = parse(sealed);
    const key = this.#keys.get(keyId);
    if (key === undefined) throw new SecretBoxError(`sealed with unknown key ${keyId}`);
    const decipher = createDecipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretBoxError('sealed value failed authentication (altered, or opened in the wrong place)');
    }
  }

  /** True for a clear value, or one sealed by any key but the current one: rotation rewrites it. */
  needsResealing(value: string): boolean {
    return !value.startsWith(`${SEALED_PREFIX}${this.currentKeyId}:`);
  }

  /**
   * The value sealed under the current key: opens it first, or seals it as it is when it is still
   * in clear (values stored before encryption at rest).
   */
  reseal(value: string, context: string): string {
    return this.seal(isSealed(value) ? this.open(value, context) : value, context);
  }
}

function parse(sealed: string): { keyId: string; iv: Buffer; ciphertext: Buffer; tag: Buffer } {
  if (!isSealed(sealed)) throw new SecretBoxError('not a sealed value');
  const parts = sealed.slice(SEALED_PREFIX.length).split(':');
  const [keyId, iv, ciphertext, tag] = parts;
  if (
    parts.length !== 4 ||
    keyId === undefined ||
    iv === undefined ||
    ciphertext === undefined ||
    tag === undefined
  ) {
    throw new SecretBoxError('malformed sealed value');
  }
  const decoded = {
    keyId,
    iv: Buffer.from(iv, 'base64url'),
    ciphertext: Buffer.from(ciphertext, 'base64url'),
    tag: Buffer.from(tag, 'base64url'),
  };
  if (decoded.iv.length !== IV_BYTES || decoded.tag.length !== TAG_BYTES) {
    throw new SecretBoxError('malformed sealed value');
  }
  return decoded;
}
