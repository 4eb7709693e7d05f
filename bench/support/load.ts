import { fork } from 'node:child_process';
import path from 'node:path';
import { killOnInterrupt } from './interrupt-cleanup.js';
import type { LoadJob, LoadRun, WorkerMessage } from './load-protocol.js';
import { type ProcessUsage, sampleProcess } from './process-sampler.js';

const HERE = import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname);
/**
 * Beyond the load's own duration: process start, the last answers (a paced load waits for its
 * warm-up's stragglers as long again as the warm-up, and for the measured load's 10 s at most),
 * the report.
 */
const WORKER_GRACE_MS = 30_000;

export interface MeasuredLoad {
  run: LoadRun;
  /** The process under load, sampled while the measured load ran. */
  target: ProcessUsage;
}

/**
 * Runs one load from a worker process (bench/processes/load.worker.ts) against `job.url`, sampling the process
 * `targetPid` (the service, or the bare route's server) from /proc while the measured part runs.
 * `onMeasuring` is told when the warm-up is over and the measured load begins.
 */
export function runLoad(
  job: LoadJob,
  targetPid: number,
  onMeasuring: () => void = () => {},
): Promise<MeasuredLoad> {
  const worker = fork(path.join(HERE, '../processes/load.worker.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  killOnInterrupt(worker);
  const limitMs = (job.warm_up_seconds + job.duration_seconds) * 1000 + WORKER_GRACE_MS;
  return new Promise<MeasuredLoad>((resolve, reject) => {
    let sampler: ReturnType<typeof sampleProcess> | undefined;
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sampler?.stop();
      if (worker.exitCode === null) worker.kill('SIGKILL');
      outcome();
    };
    const timer = setTimeout(
      () => finish(() => reject(new Error(`the load worker did not finish within ${limitMs} ms`))),
      limitMs,
    );
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'measuring') {
        sampler = sampleProcess(targetPid);
        onMeasuring();
      } else if (message.type === 'failed')
        finish(() => reject(new Error(`load worker: ${message.message}`)));
      else {
        const target = sampler?.stop();
        sampler = undefined;
        finish(() =>
          target === undefined
            ? reject(new Error('the load finished before it started'))
            : resolve({ run: message.run, target }),
        );
      }
    });
    worker.once('exit', (code) => finish(() => reject(new Error(`the load worker exited early (${code})`))));
    worker.send(job);
  });
}
