import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateSecretKey, parseSecretKeys, type SecretKey } from './secret-box.js';

/** The embedded default's key list, beside the data it protects; same format as SECRETS_ENCRYPTION_KEYS. */
export const SECRET_KEY_FILE_NAME = 'secrets.keys';
const OWNER_ONLY = 0o600;

/**
 * Reads the key file under `dataDir`, creating it with one fresh key (mode 0600) on first start.
 * Creation is exclusive (`wx`): two starts racing both end up with the file the first one wrote.
 * A file others can read is narrowed back to its owner.
 */
export async function loadOrCreateSecretKeyFile(dataDir: string): Promise<SecretKey[]> {
  const file = path.join(dataDir, SECRET_KEY_FILE_NAME);
  const keyId = `local-${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`;
  try {
    await writeFile(file, `${generateSecretKey(keyId)}\n`, { mode: OWNER_ONLY, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, OWNER_ONLY);
  return parseSecretKeys(await readFile(file, 'utf8'));
}
