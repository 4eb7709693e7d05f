import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirLockedError, lockDataDir } from './data-dir-lock.js';

describe('embedded data directory lock', () => {
  let directory: string | undefined;
  afterEach(async () => {
    if (directory !== undefined) await rm(directory, { recursive: true, force: true });
  });

  it('lets one holder in, refuses a second with a clear message, and frees the directory on release', async () => {
    directory = path.join(await mkdtemp(path.join(tmpdir(), 'omnistock-lock-')), 'data');
    const release = await lockDataDir(directory, () => {});
    const second = lockDataDir(directory, () => {});
    await expect(second).rejects.toBeInstanceOf(DataDirLockedError);
    await expect(second).rejects.toThrow(/in use by another omnistock process.*DATABASE_URL/s);
    await release();
    const again = await lockDataDir(directory, () => {});
    await again();
  });
});
