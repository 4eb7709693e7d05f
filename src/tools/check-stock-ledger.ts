import { openDatabase } from '../app.js';
import { ConfigError, loadConfig } from '../config.js';
import { auditStockLedger } from '../modules/inventory/index.js';
import { migrate } from '../platform/db/migrator.js';
import { createLogger } from '../platform/logger.js';

/**
 * `npm run stock:check [-- --repair]`: rebuilds every stock level from the movement ledger and the
 * pending reservations, prints each drift, and exits 1 while any remains (0 when all agree, or when
 * `--repair` fixed every one).
 * Uses the same DATABASE_URL / DATA_DIR as the service; the embedded database must not be in use.
 */
async function main(): Promise<number> {
  const repair = process.argv.includes('--repair');
  const config = loadConfig();
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  const { database, release } = await openDatabase(config, logger);
  try {
    await migrate(database);
    const report = await auditStockLedger(database, { repair });
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(
      `checked ${report.levels_checked} stock levels: ${report.drifts.length} drifting` +
        (repair ? `, ${report.repaired} repaired` : '') +
        '\n',
    );
    return report.drifts.length === report.repaired ? 0 : 1;
  } finally {
    await database.close();
    await release();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `stock:check: ${error instanceof ConfigError || error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(2);
  },
);
