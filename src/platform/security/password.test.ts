import { describe, expect, it } from 'vitest';
import { dummyPasswordHash, hashPassword, needsRehash, verifyPassword } from './password.js';

describe('password hashing', () => {
  it('verifies the right password and refuses a wrong one', async () => {
    const stored = await hashPassword('correct horse battery');
    expect(stored).toMatch(/^scrypt\$15\$8\$1\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/);
    expect(await verifyPassword('correct horse battery', stored)).toBe(true);
    expect(await verifyPassword('correct horse batterY', stored)).toBe(false);
    expect(needsRehash(stored)).toBe(false);
  });

  it('salts every hash', async () => {
    expect(await hashPassword('same password')).not.toBe(await hashPassword('same password'));
  });

  it('refuses unreadable or hostile hashes without throwing', async () => {
    for (const stored of ['', 'bcrypt$x', 'scrypt$40$8$1$AAAA$AAAA', 'scrypt$15$8$1$AAAA$short']) {
      expect(await verifyPassword('anything', stored)).toBe(false);
    }
    expect(await verifyPassword('anything', await dummyPasswordHash())).toBe(false);
  });
});
