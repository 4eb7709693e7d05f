import { mkdir } from 'node:fs/promises';
import lockfile from 'proper-lockfile';

/** How long a lock survives its holder's crash before another process may take it. */
const LOCK_STALE_MS = 10_000;
const LOCK_REFRESH_MS = 2_000;

export class DataDirLockedError extends Error {
  constructor(readonly dataDir: string) {
    super(
      `The embedded database in ${dataDir} is in use by another omnistock process. ` +
        'PGlite has one connection per process: a second process on the same directory would silently ' +
        'lose writes. Stop the other process, use another DATA_DIR, or set DATABASE_URL to share a ' +
        'PostgreSQL server between instances.',
    );
    this.name = 'DataDirLockedError';
  }
}

/**
 * Takes an exclusive, crash-safe lock on the embedded data directory. The lock is a directory
 * (`<dataDir>.lock`) whose mtime the holder refreshes; one left by a crashed process goes stale
 * after LOCK_STALE_MS, so a restart after a crash waits at most that long.
 */
export async function lockDataDir(
  dataDir: string,
  onLockLost: (error: Error) => void,
): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true });
  try {
    return await lockfile.lock(dataDir, {
      stale: LOCK_STALE_MS,
      update: LOCK_REFRESH_MS,
      realpath: true,
      retries: 0,
      onCompromised: onLockLost,
    });
  } catch (error) {
    if ((error as { code?: string }).code === 'ELOCKED') throw new DataDirLockedError(dataDir);
    throw error;
  }
}
