import { spawn } from 'node:child_process';
import path from 'node:path';
import { killOnInterrupt } from './interrupt-cleanup.js';
import { freePort } from './service-process.js';

const HERE = import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname);
const READY_TIMEOUT_MS = 30_000;

export interface BareRoute {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts bench/processes/bare-route.server.ts, the framework's bare JSON route, in its own process. */
export async function startBareRoute(): Promise<BareRoute> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(HERE, '../processes/bare-route.server.ts')],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { PATH: process.env['PATH'], PORT: String(port) } },
  );
  killOnInterrupt(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (
    !(await fetch(`${url}/ready`).then(
      (response) => response.ok,
      () => false,
    ))
  ) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the bare route server did not start (exit code ${child.exitCode})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    pid: child.pid as number,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
