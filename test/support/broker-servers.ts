import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ServerProcess, sparePort } from '../brokers/server-process.js';

export const NATS_SERVER = '/usr/sbin/nats-server';
export const RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';

/** A broker server of one's own, not yet started, and the URL clients reach it at. */
export interface OwnBrokerServer {
  url: string;
  server: ServerProcess;
}

/** NATS with JetStream, storing under `directory`, on a spare port. */
export async function natsServer(directory: string): Promise<OwnBrokerServer> {
  const port = await sparePort();
  await mkdir(directory, { recursive: true });
  const server = new ServerProcess(
    'nats-server',
    port,
    NATS_SERVER,
    ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', path.join(directory, 'jetstream')],
    path.join(directory, 'server.log'),
  );
  return { url: `nats://127.0.0.1:${port}`, server };
}

/** A RabbitMQ node of its own (name, ports, data, no plugins) under `directory`. */
export async function rabbitmqNode(directory: string, nodeName: string): Promise<OwnBrokerServer> {
  const port = await sparePort();
  const distributionPort = await sparePort();
  await mkdir(directory, { recursive: true });
  const configFile = path.join(directory, 'rabbitmq.conf');
  // Its own listener: the shared node's /etc/rabbitmq/rabbitmq.conf would claim 5672.
  await writeFile(configFile, `listeners.tcp.local = 127.0.0.1:${port}\n`);
  await writeFile(path.join(directory, 'enabled_plugins'), '[].\n');
  const server = new ServerProcess(
    'rabbitmq-server',
    port,
    RABBITMQ_SERVER,
    [],
    path.join(directory, 'server.log'),
    {
      HOME: directory,
      RABBITMQ_NODENAME: `${nodeName}@localhost`,
      RABBITMQ_NODE_PORT: String(port),
      RABBITMQ_DIST_PORT: String(distributionPort),
      RABBITMQ_MNESIA_BASE: path.join(directory, 'mnesia'),
      RABBITMQ_LOG_BASE: path.join(directory, 'log'),
      RABBITMQ_CONFIG_FILE: configFile,
      RABBITMQ_ENABLED_PLUGINS_FILE: path.join(directory, 'enabled_plugins'),
      RABBITMQ_PID_FILE: path.join(directory, 'rabbitmq.pid'),
    },
  );
  return { url: `amqp://guest:guest@127.0.0.1:${port}`, server };
}
