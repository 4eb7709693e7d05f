import { buildApp, VERSION } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { DataDirLockedError } from './platform/db/data-dir-lock.js';
import { createLogger } from './platform/logger.js';
import { startTracing, type Tracing } from './platform/observability/tracing-sdk.js';

/** Graceful shutdown must finish within this, or the process exits anyway. */
const SHUTDOWN_TIMEOUT_MS = 15_000;

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`omnistock: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  // Before the app exists, so that its first request is already traced.
  let tracing: Tracing | undefined;
  if (config.tracing !== undefined) {
    tracing = startTracing(config.tracing, VERSION);
    logger.info(
      {
        traces_url: config.tracing.tracesUrl,
        protocol: config.tracing.protocol,
        sampler: config.tracing.sampler,
      },
      'tracing on: exporting spans over OTLP',
    );
  }
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));

  let app: Awaited<ReturnType<typeof buildApp>>;
  try {
    app = await buildApp({ config, logger });
  } catch (error) {
    if (error instanceof DataDirLockedError) {
      process.stderr.write(`omnistock: ${error.message}\n`);
      process.exit(3);
    }
    logger.fatal({ err: error }, 'failed to start');
    process.exit(1);
  }
  await app.server.listen({ port: config.port, host: config.host });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing requests in flight');
    const deadline = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    deadline.unref();
    await app.close();
    await tracing
      ?.shutdown()
      .catch((error: unknown) => logger.warn({ err: error }, 'exporting the last spans failed'));
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

await main();
