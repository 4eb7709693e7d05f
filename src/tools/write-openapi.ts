import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildApp } from '../app.js';
import { loadConfig } from '../config.js';
import { createLogger } from '../platform/logger.js';

/**
 * `node dist/tools/write-openapi.js <file>`: writes the OpenAPI document the server serves at
 * /openapi.json, built from the route schemas of a throwaway embedded instance, for the linter.
 */
async function main(): Promise<void> {
  const target = process.argv[2];
  if (target === undefined) throw new Error('usage: write-openapi <file>');
  await mkdir(path.dirname(path.resolve(target)), { recursive: true });
  const dataDir = await mkdtemp(path.join(tmpdir(), 'omnistock-openapi-'));
  try {
    const config = {
      ...loadConfig({ DATA_DIR: dataDir, DEMO_DATA: 'false', LOG_LEVEL: 'silent' }),
      // No key is printed: this instance never serves a request.
      adminApiKey: 'openapi-document-writer-key-unused',
    };
    const app = await buildApp({ config, logger: createLogger(config.logLevel) });
    try {
      await writeFile(target, `${JSON.stringify(app.server.swagger(), null, 2)}\n`);
    } finally {
      await app.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
