import { type BenchDatabase, createBenchDatabase, type DatabaseKind } from './database.js';
import { type Catalog, seedCatalog, withSession } from './seed.js';
import { startServiceProcess } from './service-process.js';

/** What every scenario's copy of the template holds, by scenario; the ids are the same in every copy. */
export interface Seeds {
  /** 1,000 products in 5 stores each: many distinct availability views. */
  availability: Catalog;
  /** 100 products × 100 stores: 10,000 levels. */
  spread: Catalog;
  /** One store, two products: the warm-up's row and the hot row. */
  hot: Catalog;
  /** 500 products × 4 stores. */
  mixed: Catalog;
}

/** Ample for every unpaced load: no level of these runs out during a run. */
const AMPLE_QUANTITY = 1_000_000;

const templates = new Map<DatabaseKind, Promise<{ template: BenchDatabase; seeds: Seeds }>>();

/**
 * Migrating a database takes the service tens of seconds on PGlite on a loaded machine, so it is done
 * once per kind: the service starts on a template (migrations, tenant, admin key) and stops, the
 * bench seeds every scenario's data into it, and each scenario runs on a copy (PGlite: a copy of the
 * directory; PostgreSQL: CREATE DATABASE … TEMPLATE).
 */
function templateOf(kind: DatabaseKind): Promise<{ template: BenchDatabase; seeds: Seeds }> {
  let template = templates.get(kind);
  if (template === undefined) {
    template = (async () => {
      const database = await createBenchDatabase(kind);
      const service = await startServiceProcess(database);
      await service.stop();
      const seeds = await withSession(database, async (session) => ({
        availability: await seedCatalog(session, {
          products: 1_000,
          stores: 5,
          quantity: 1_000,
          prefix: 'AV',
        }),
        spread: await seedCatalog(session, {
          products: 100,
          stores: 100,
          quantity: AMPLE_QUANTITY,
          prefix: 'SP',
        }),
        hot: await seedCatalog(session, { products: 2, stores: 1, quantity: AMPLE_QUANTITY, prefix: 'HOT' }),
        mixed: await seedCatalog(session, {
          products: 500,
          stores: 4,
          quantity: AMPLE_QUANTITY,
          prefix: 'MX',
        }),
      }));
      // A production database has planner statistics (autovacuum gathers them); a freshly seeded
      // one has none until it does, and would be measured with plans made blind.
      await withSession(database, (session) => session.query('ANALYZE'));
      return { template: database, seeds };
    })();
    templates.set(kind, template);
  }
  return template;
}

/** A fresh copy of the kind's migrated and seeded template; the caller drops it. */
export async function benchDatabase(kind: DatabaseKind): Promise<{ database: BenchDatabase; seeds: Seeds }> {
  const { template, seeds } = await templateOf(kind);
  return { database: await createBenchDatabase(kind, template), seeds };
}

export async function dropTemplates(): Promise<void> {
  for (const template of templates.values()) await (await template).template.drop();
  templates.clear();
}
