import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { binaryAvailable } from '../brokers/broker-support.js';
import { ServerProcess, sparePort } from '../brokers/server-process.js';

const POSTGRES_ROOT = '/usr/lib/postgresql';
const READY_TIMEOUT_MS = 30_000;

function binDirectory(): string | undefined {
  if (!existsSync(POSTGRES_ROOT)) return undefined;
  const versions = readdirSync(POSTGRES_ROOT).sort();
  const newest = versions.at(-1);
  return newest === undefined ? undefined : path.join(POSTGRES_ROOT, newest, 'bin');
}

/** Whether a private server can be started here (binaries installed); fails under OMNISTOCK_REQUIRE_SERVICES. */
export function privatePostgresAvailable(): boolean {
  const bin = binDirectory();
  return binaryAvailable(
    'PostgreSQL',
    bin === undefined ? `${POSTGRES_ROOT}/*/bin/postgres` : path.join(bin, 'postgres'),
  );
}

/** The uid/gid of the `postgres` user when we are root: PostgreSQL refuses to run as root. */
function postgresIdentity(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

export interface PrivatePostgres {
  server: ServerProcess;
  /** Connection URL of its `postgres` database. */
  url: string;
  port: number;
  /** Removes the data directory; call after stopping. */
  remove(): void;
}

/**
 * A PostgreSQL server this test owns — its own data directory and port — so that it can be paused,
 * killed and restarted without touching the shared one. fsync is off: the tests kill processes,
 * never the machine, and a commit is still written to the kernel before it is acknowledged.
 * (synchronous_commit must stay on: a crash-restart after a killed backend would otherwise lose
 * acknowledged commits, which is what these tests look for.)
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = binDirectory();
  if (bin === undefined) throw new Error('PostgreSQL binaries are not installed');
  const identity = postgresIdentity();
  const directory = mkdtempSync(path.join(tmpdir(), 'omnistock-pg-'));
  if (identity !== undefined) chownSync(directory, identity.uid, identity.gid);
  const data = path.join(directory, 'data');
  execFileSync(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync'], {
    stdio: 'ignore',
    ...identity,
  });
  const port = await sparePort();
  const server = new ServerProcess(
    'postgres',
    port,
    path.join(bin, 'postgres'),
    [
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      directory,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
      '-c',
      'full_page_writes=off',
    ],
    path.join(directory, 'postgres.log'),
    {},
    identity,
  );
  await server.start(READY_TIMEOUT_MS);
  // The port accepts connections a moment before the server accepts sessions.
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  for (let attempt = 0; ; attempt += 1) {
    try {
      execFileSync(path.join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-q']);
      break;
    } catch (error) {
      if (attempt > 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return { server, url, port, remove: () => rmSync(directory, { recursive: true, force: true }) };
}
