import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import { clientConfig } from './pool.js';

/** The SQL migrations ship beside the package (not compiled), so one path serves src and dist. */
export const migrationsDir = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  ...(import.meta.url.includes('/dist/') ? ['../../../migrations'] : ['../../migrations']),
);

/**
 * Applies pending migrations (node-pg-migrate: one transaction, an advisory lock so
 * two pods starting together do not race). Creates the schema when missing.
 */
export async function migrate(
  databaseUrl: string,
  schema: string,
  log: (msg: string) => void = () => {},
): Promise<string[]> {
  const applied = await runner({
    databaseUrl: clientConfig(databaseUrl),
    dir: migrationsDir,
    direction: 'up',
    migrationsTable: 'custody_migrations',
    schema,
    createSchema: true,
    checkOrder: true,
    advisoryLockMode: 'wait',
    log,
    logger: { debug: () => {}, info: log, warn: log, error: log },
  });
  return applied.map((m) => m.name);
}
