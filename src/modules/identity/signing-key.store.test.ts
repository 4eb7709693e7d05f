import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadSigningKey, SIGNING_KEY_FILE_NAME } from './signing-key.store.js';

describe('the signing key kept in DATA_DIR', () => {
  const directories: string[] = [];
  afterEach(async () => {
    await Promise.all(
      directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })),
    );
  });

  it('is generated once, readable by its owner only, and reused on the next start', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'omnistock-key-'));
    directories.push(dataDir);
    const first = await loadSigningKey(undefined, dataDir);
    expect(first.asymmetricKeyType).toBe('ed25519');
    const file = await stat(path.join(dataDir, SIGNING_KEY_FILE_NAME));
    expect(file.mode & 0o777).toBe(0o600);
    const second = await loadSigningKey(undefined, dataDir);
    expect(second.export({ format: 'jwk' })).toEqual(first.export({ format: 'jwk' }));
  });
});
