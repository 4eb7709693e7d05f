import { fork } from 'node:child_process';
import path from 'node:path';
import { killOnInterrupt } from './interrupt-cleanup.js';
import type { SqlLoadJob, SqlLoadRun, SqlWorkerMessage } from './sql-load-protocol.js';

const HERE = import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname);
const WORKER_GRACE_MS = 30_000;

/** Runs one SqlLoadJob in bench/processes/sql-load.worker.ts. No service may hold a PGlite directory meanwhile. */
export function runSqlLoad(job: SqlLoadJob): Promise<SqlLoadRun> {
  const worker = fork(path.join(HERE, '../processes/sql-load.worker.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  killOnInterrupt(worker);
  const limitMs = (job.warm_up_seconds + job.duration_seconds) * 1000 + WORKER_GRACE_MS;
  return new Promise<SqlLoadRun>((resolve, reject) => {
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (worker.exitCode === null) worker.kill('SIGKILL');
      outcome();
    };
    const timer = setTimeout(
      () => finish(() => reject(new Error(`the SQL load worker did not finish within ${limitMs} ms`))),
      limitMs,
    );
    let run: SqlLoadRun | undefined;
    worker.on('message', (message: SqlWorkerMessage) => {
      if (message.type === 'failed') finish(() => reject(new Error(`SQL load worker: ${message.message}`)));
      else run = message.run;
    });
    // Resolved on exit, not on the message: the worker must have closed PGlite before anyone reopens it.
    worker.once('exit', (code) =>
      finish(() =>
        run === undefined ? reject(new Error(`the SQL load worker exited early (${code})`)) : resolve(run),
      ),
    );
    worker.send(job);
  });
}
