import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ServerProcess } from '../../test/brokers/server-process.js';
import {
  NATS_SERVER,
  natsServer,
  type OwnBrokerServer,
  RABBITMQ_SERVER,
  rabbitmqNode,
} from '../../test/support/broker-servers.js';
import { releaseOnInterrupt } from './interrupt-cleanup.js';

/** The broker URLs the event scenarios run against, by name; `memory` is the in-process broker. */
export type BrokerUrls = Readonly<Record<string, string | undefined>>;

export interface BenchBrokers {
  urls: BrokerUrls;
  stop(): Promise<void>;
}

const NATS_START_TIMEOUT_MS = 20_000;
const RABBITMQ_START_TIMEOUT_MS = 60_000;
/** Memory: a file system no database shares (see startBenchBrokers). */
const MEMORY_FILE_SYSTEM = '/dev/shm';

/**
 * The brokers the event scenarios measure. A `BENCH_<BROKER>_URL` names a server to use as it is.
 * Otherwise the bench starts a NATS server and a RabbitMQ node of its own with their storage on a
 * memory file system: on this machine every disk-backed server shares one ext4 journal with
 * PostgreSQL, and in its `data=ordered` mode each WAL flush also waits for the data a broker has
 * just appended (NATS change requests measured 72–624 ms at p50 on the shared disk, 9 ms on a
 * volume of their own). That measures the disk they share, which a deployment does not: there the
 * brokers and the database run on machines of their own. Redis keeps nothing on disk (the
 * machine's server runs without persistence), so the machine's server is used. When a server's
 * binary is missing, the machine's own server is used instead.
 */
export async function startBenchBrokers(wanted: readonly string[] | undefined): Promise<BenchBrokers> {
  const wants = (name: string) => wanted === undefined || wanted.includes(name);
  const base = await mkdtemp(
    path.join(existsSync(MEMORY_FILE_SYSTEM) ? MEMORY_FILE_SYSTEM : tmpdir(), 'omnistock-bench-brokers-'),
  );
  const started: ServerProcess[] = [];
  // An interrupted run stops the servers and removes their storage as a finished one does.
  const forget = releaseOnInterrupt(() => stop());
  const own = async (make: () => Promise<OwnBrokerServer>, readyTimeoutMs: number): Promise<string> => {
    const { url, server } = await make();
    started.push(server);
    await server.start(readyTimeoutMs);
    return url;
  };
  const stop = async () => {
    forget();
    await Promise.all(started.map((server) => server.stop('SIGTERM')));
    await rm(base, { recursive: true, force: true });
  };
  try {
    const [nats, amqp] = await Promise.all([
      process.env['BENCH_NATS_URL'] ??
        (wants('nats') && existsSync(NATS_SERVER)
          ? own(() => natsServer(path.join(base, 'nats')), NATS_START_TIMEOUT_MS)
          : 'nats://127.0.0.1:4222'),
      process.env['BENCH_AMQP_URL'] ??
        (wants('amqp') && existsSync(RABBITMQ_SERVER)
          ? own(
              () => rabbitmqNode(path.join(base, 'rabbitmq'), `omnistock-bench-${process.pid}`),
              RABBITMQ_START_TIMEOUT_MS,
            )
          : 'amqp://guest:guest@127.0.0.1:5672'),
    ]);
    return {
      urls: {
        memory: undefined,
        nats,
        redis: process.env['BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379',
        amqp,
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
