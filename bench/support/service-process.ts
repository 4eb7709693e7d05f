import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateSecretKey } from '../../src/platform/security/secret-box.js';
import { createBenchDatabase } from './database.js';
import { BENCH_ADMIN_KEY } from './service.js';

export interface ServiceProcess {
  url: string;
  pid: number;
  database: 'pglite' | 'postgres';
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;
/** The built service (`npm run bench` builds first), as `npm start` runs it: no TypeScript loader in the way. */
const MAIN = path.resolve(
  import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname),
  '../../dist/main.js',
);

/** BENCH_SERVICE_NODE_ARGS, e.g. `--cpu-prof --cpu-prof-dir=/tmp/profiles`, profiles the service under load. */
function serviceNodeArguments(): string[] {
  return (process.env['BENCH_SERVICE_NODE_ARGS'] ?? '').split(' ').filter((argument) => argument !== '');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/**
 * The service as operators run it — `dist/main.js` in a process of its own — so that the load
 * generator, the stream client and the subscriber in the bench process do not share its event loop.
 * PostgreSQL (a fresh database) when BENCH_DATABASE_URL or DATABASE_URL is set, PGlite otherwise.
 */
export async function startServiceProcess(
  environment: Record<string, string | undefined> = {},
): Promise<ServiceProcess> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const dataDir = await mkdtemp(path.join(tmpdir(), 'omnistock-bench-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const benchDatabase = await createBenchDatabase();
  if (benchDatabase !== undefined) cleanups.push(benchDatabase.drop);
  const databaseUrl = benchDatabase?.url;
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [...serviceNodeArguments(), MAIN], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'error',
      DEMO_DATA: 'false',
      OMNISTOCK_ADMIN_API_KEY: BENCH_ADMIN_KEY,
      // The load generator is one address, one key and one customer: the abuse limits would measure themselves.
      RATE_LIMIT_PER_IP_PER_MIN: '0',
      RATE_LIMIT_PER_KEY_PER_MIN: '0',
      RATE_LIMIT_PER_TENANT_PER_MIN: '0',
      RESERVATION_CUSTOMER_UNITS_PER_PRODUCT_MAX: '1000000',
      RESERVATION_CUSTOMER_OPEN_MAX: '100000',
      // A server database needs the secrets key list; a throwaway one per run.
      ...(databaseUrl === undefined
        ? {}
        : { DATABASE_URL: databaseUrl, SECRETS_ENCRYPTION_KEYS: generateSecretKey('bench') }),
      ...Object.fromEntries(
        Object.entries(environment).filter((entry): entry is [string, string] => entry[1] !== undefined),
      ),
    },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const ready = await fetch(`${url}/ready`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the service did not become ready (exit code ${child.exitCode})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    pid: child.pid as number,
    database: databaseUrl === undefined ? 'pglite' : 'postgres',
    async stop() {
      child.kill('SIGTERM');
      const stopped = await Promise.race([
        exited.then(() => true),
        new Promise((resolve) => setTimeout(() => resolve(false), STOP_TIMEOUT_MS)),
      ]);
      if (!stopped) child.kill('SIGKILL');
      for (const cleanup of cleanups.reverse()) await cleanup();
    },
  };
}
