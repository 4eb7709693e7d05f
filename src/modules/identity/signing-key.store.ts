import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const SIGNING_KEY_FILE_NAME = 'jwt-signing-key.pem';
/** Owner read/write only: the file is the key that mints every access token. */
const SIGNING_KEY_FILE_MODE = 0o600;

/**
 * The key that signs access tokens: the configured one (JWT_PRIVATE_KEY), or else one generated
 * on first start into DATA_DIR and reused afterwards, so tokens survive a restart of the embedded
 * default. Several instances must share JWT_PRIVATE_KEY: each would otherwise make its own.
 */
export async function loadSigningKey(configured: KeyObject | undefined, dataDir: string): Promise<KeyObject> {
  if (configured !== undefined) return configured;
  const file = path.join(path.resolve(dataDir), SIGNING_KEY_FILE_NAME);
  const existing = await readKeyFile(file);
  if (existing !== undefined) return existing;
  await mkdir(path.dirname(file), { recursive: true });
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  try {
    // 'wx': never overwrite a key another process wrote meanwhile; then use that one.
    await writeFile(file, pem, { mode: SIGNING_KEY_FILE_MODE, flag: 'wx' });
    return privateKey;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const written = await readKeyFile(file);
    if (written === undefined) throw error;
    return written;
  }
}

async function readKeyFile(file: string): Promise<KeyObject | undefined> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${file} does not hold an Ed25519 private key`);
  return key;
}
