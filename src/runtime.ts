import type http from 'node:http';
import { startWorkers } from '../workers/index.js';
import { ensureGeneratedSecrets } from './config/generated-secrets.js';
import { loadConfig, type Role } from './config/index.js';
import { closeContext, type Context, createContext } from './context.js';
import { migrate } from './db/migrate.js';
import { createApp } from './http/app.js';
import { createLogger } from './observability/logger.js';

/** Serves the API; resolves once listening. */
export function listen(ctx: Context, port: number, host?: string): Promise<http.Server> {
  const app = createApp(ctx);
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host ?? '0.0.0.0', (err?: Error) =>
      err ? reject(err) : resolve(server),
    );
    // Long recordings stream for minutes: no whole-request timeout, but idle sockets close.
    server.requestTimeout = 0;
    server.headersTimeout = 60_000;
    server.keepAliveTimeout = 65_000;
  });
}

/**
 * Runs one role until SIGTERM/SIGINT: stops accepting requests, lets running jobs
 * finish, then closes connections.
 */
export async function runRole(role: Exclude<Role, 'migrate'>): Promise<void> {
  const config = loadConfig(process.env, role);
  const log = createLogger(config.logLevel);
  await ensureGeneratedSecrets(config, log);
  if (role === 'start') {
    const applied = await migrate(config.databaseUrl, config.dbSchema);
    if (applied.length) log.info({ applied }, 'migrations applied');
  }
  const ctx = await createContext(config, log);
  const server = role === 'worker' ? undefined : await listen(ctx, config.port);
  const workers = role === 'api' ? undefined : await startWorkers(ctx);
  log.info({ role, port: server ? config.port : undefined, publicUrl: config.publicUrl }, 'custody started');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await Promise.all([
      server ? new Promise<void>((r) => server.close(() => r())) : undefined,
      workers?.close(),
    ]);
    await closeContext(ctx);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

export async function runMigrate(): Promise<void> {
  const config = loadConfig(process.env, 'migrate');
  const log = createLogger(config.logLevel);
  const applied = await migrate(config.databaseUrl, config.dbSchema, (m) => log.debug(m));
  log.info(
    { applied, schema: config.dbSchema },
    applied.length ? 'migrations applied' : 'database up to date',
  );
}
