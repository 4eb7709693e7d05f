import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { generateSecretKey } from '../../src/platform/security/secret-box.js';
import { type BenchDatabase, createBenchDatabase, type DatabaseKind } from './database.js';
import { killOnInterrupt } from './interrupt-cleanup.js';
import { BENCH_ADMIN_KEY } from './service.js';

export interface ServiceProcess {
  url: string;
  pid: number;
  database: DatabaseKind;
  /** Stops the process; also drops the database when the service created it itself. */
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

/**
 * The bench measures the service's work, not its abuse limits: the load generator is one address and
 * one key, and its customers reserve far more than shoppers do, so the rate limits and the customer
 * caps would only throttle it. Load shedding is off so that a scenario measures capacity, not the
 * shedding threshold.
 */
const RATE_LIMITS_OFF = {
  RATE_LIMIT_PER_IP_PER_MIN: '0',
  RATE_LIMIT_PER_KEY_PER_MIN: '0',
  RATE_LIMIT_PER_TENANT_PER_MIN: '0',
  RESERVATION_CUSTOMER_UNITS_PER_PRODUCT_MAX: '1000000',
  RESERVATION_CUSTOMER_OPEN_MAX: '100000',
  LOAD_SHED_EVENT_LOOP_DELAY_MS: '0',
};
/** Seals webhook secrets on a server database; one per bench run, so restarts can open what was sealed. */
export const BENCH_SECRETS_KEYS = generateSecretKey('bench');

export async function freePort(): Promise<number> {
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
 * `database` is either a kind — a fresh database of it is created and dropped with the service — or
 * a database the caller owns and may seed, check, or start the service on again.
 */
export async function startServiceProcess(
  database: DatabaseKind | BenchDatabase,
  environment: Record<string, string | undefined> = {},
): Promise<ServiceProcess> {
  const owned = typeof database === 'string';
  const benchDatabase = typeof database === 'string' ? await createBenchDatabase(database) : database;
  const { dataDir, url: databaseUrl } = benchDatabase;
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [...serviceNodeArguments(), MAIN], {
    stdio: ['ignore', process.env['BENCH_SERVICE_STDOUT'] === '1' ? 'inherit' : 'ignore', 'inherit'],
    env: {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'error',
      DEMO_DATA: 'false',
      OMNISTOCK_ADMIN_API_KEY: BENCH_ADMIN_KEY,
      ...RATE_LIMITS_OFF,
      // A server database needs the secrets key list: one per bench run, the same at every restart.
      ...(databaseUrl === undefined
        ? {}
        : { DATABASE_URL: databaseUrl, SECRETS_ENCRYPTION_KEYS: BENCH_SECRETS_KEYS }),
      ...Object.fromEntries(
        Object.entries(environment).filter((entry): entry is [string, string] => entry[1] !== undefined),
      ),
    },
  });
  killOnInterrupt(child);
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
      if (owned) await benchDatabase.drop();
      throw new Error(`the service did not become ready (exit code ${child.exitCode})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    pid: child.pid as number,
    database: benchDatabase.kind,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const stopped = await Promise.race([
          exited.then(() => true),
          new Promise((resolve) => setTimeout(() => resolve(false), STOP_TIMEOUT_MS)),
        ]);
        if (!stopped) {
          child.kill('SIGKILL');
          await exited;
        }
      }
      if (owned) await benchDatabase.drop();
    },
  };
}
