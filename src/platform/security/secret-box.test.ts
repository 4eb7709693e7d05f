import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateSecretKey, isSealed, parseSecretKeys, SecretBox, SecretBoxError } from './secret-box.js';
import { loadOrCreateSecretKeyFile, SECRET_KEY_FILE_NAME } from './secret-key-file.js';

const CONTEXT = 'webhook-secret/acme/0190a0b4-0000-7000-8000-000000000001';
const key2024 = generateSecretKey('k2024');
const oldKeys = parseSecretKeys(key2024);
const newKeys = parseSecretKeys(`${generateSecretKey('k2025')},${key2024}`);

describe('SecretBox', () => {
  it('round-trips a value, with a fresh IV each time and no plaintext in the sealed form', () => {
    const box = new SecretBox(oldKeys);
    const first = box.seal('whsec_top-secret', CONTEXT);
    const second = box.seal('whsec_top-secret', CONTEXT);
    expect(first).not.toBe(second);
    expect(first).not.toContain('top-secret');
    expect(isSealed(first)).toBe(true);
    expect(first.startsWith('enc:v1:k2024:')).toBe(true);
    expect(box.open(first, CONTEXT)).toBe('whsec_top-secret');
    expect(box.open(box.seal('', CONTEXT), CONTEXT)).toBe('');
  });

  it('refuses a value whose ciphertext, tag or IV was altered', () => {
    const box = new SecretBox(oldKeys);
    const sealed = box.seal('whsec_top-secret', CONTEXT);
    const parts = sealed.split(':');
    for (const index of [3, 4, 5]) {
      const part = parts[index] as string;
      const flipped = `${part[0] === 'A' ? 'B' : 'A'}${part.slice(1)}`;
      const tampered = [...parts.slice(0, index), flipped, ...parts.slice(index + 1)].join(':');
      expect(() => box.open(tampered, CONTEXT)).toThrow(SecretBoxError);
    }
    expect(() => box.open('whsec_clear', CONTEXT)).toThrow(/not a sealed value/);
    expect(() => box.open('enc:v1:k2024:abc', CONTEXT)).toThrow(/malformed/);
  });

  it('refuses a value moved to another place (another tenant or row)', () => {
    const box = new SecretBox(oldKeys);
    const sealed = box.seal('whsec_top-secret', CONTEXT);
    expect(() => box.open(sealed, 'webhook-secret/other-tenant/0190a0b4')).toThrow(/authentication/);
  });

  it('refuses a value sealed by a key it does not hold', () => {
    const sealed = new SecretBox(newKeys).seal('whsec_top-secret', CONTEXT);
    expect(() => new SecretBox(oldKeys).open(sealed, CONTEXT)).toThrow(/unknown key k2025/);
  });

  it('rotates: the first key seals, older keys still open, and resealing moves values to the newest', () => {
    const before = new SecretBox(oldKeys).seal('whsec_top-secret', CONTEXT);
    const box = new SecretBox(newKeys);
    expect(box.currentKeyId).toBe('k2025');
    expect(box.open(before, CONTEXT)).toBe('whsec_top-secret');
    expect(box.needsResealing(before)).toBe(true);
    const after = box.reseal(before, CONTEXT);
    expect(box.needsResealing(after)).toBe(false);
    expect(after.startsWith('enc:v1:k2025:')).toBe(true);
    // Once resealed, the old key can leave the list.
    expect(new SecretBox(newKeys.slice(0, 1)).open(after, CONTEXT)).toBe('whsec_top-secret');
    expect(box.reseal('whsec_was-in-clear', CONTEXT)).toMatch(/^enc:v1:k2025:/);
    expect(box.needsResealing('whsec_was-in-clear')).toBe(true);
  });

  it('parses key lists strictly and never echoes key material', () => {
    expect(
      parseSecretKeys(
        ` a:${Buffer.alloc(32, 1).toString('base64')} , b:${Buffer.alloc(32, 2).toString('base64')}`,
      ).map((key) => key.id),
    ).toEqual(['a', 'b']);
    expect(() => parseSecretKeys('')).toThrow(/no key/);
    expect(() => parseSecretKeys('nokeyid')).toThrow(/expected <id>:<base64>/);
    expect(() => parseSecretKeys(`a:${Buffer.alloc(16).toString('base64')}`)).toThrow(/exactly 32 bytes/);
    const short = `a:${Buffer.alloc(31, 7).toString('base64')}`;
    expect(() => parseSecretKeys(short)).toThrow(SecretBoxError);
    try {
      parseSecretKeys(short);
    } catch (error) {
      expect(String(error)).not.toContain(short.slice(2));
    }
    const key = Buffer.alloc(32, 3).toString('base64');
    expect(() => parseSecretKeys(`a:${key},a:${key}`)).toThrow(/twice/);
  });
});

describe('the embedded key file', () => {
  it('is created once with mode 0600 and read back on the next start', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'omnistock-keys-'));
    try {
      const first = await loadOrCreateSecretKeyFile(dir);
      const second = await loadOrCreateSecretKeyFile(dir);
      expect(second).toEqual(first);
      expect(first).toHaveLength(1);
      const file = path.join(dir, SECRET_KEY_FILE_NAME);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect((await readFile(file, 'utf8')).trim()).toMatch(/^local-\d{8}:[A-Za-z0-9+/]{43}=$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
