import { createServer, type Server } from 'node:http';
import { type RunningWorkers, startWorkers } from '../workers/index.js';
import { ensureGeneratedSecrets } from './config/generated-secrets.js';
import { loadConfig, type Role } from './config/index.js';
import { closeContext, type Context, createContext } from './context.js';
import { createLogger } from './observability/logger.js';

/** Serves the API; resolves once listening. */
export async function listen(ctx: Context, port: number, host?: string): Promise<Server> {
  // Loaded only by roles that serve HTTP: a worker-only process stays small.
  const { createApp } = await import('./http/app.js');
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

/** A worker-only process still has metrics to scrape (transfers, key calls) and a liveness probe. */
function serveWorkerMetrics(ctx: Context): Promise<Server> {
  const server = createServer(async (req, res) => {
    if (req.url === '/metrics') {
      res.setHeader('Content-Type', ctx.metrics.registry.contentType);
      res.end(await ctx.metrics.registry.metrics());
    } else if (req.url === '/healthz') {
      res.setHeader('Content-Type', 'application/json');
      res.end('{"status":"ok"}');
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(ctx.config.worker.metricsPort, () => resolve(server));
  });
}

/**
 * Runs one role until SIGTERM/SIGINT: stops accepting requests, lets running jobs
 * finish, then closes connections.
 */
export async function runRole(role: Exclude<Role, 'migrate'>): Promise<void> {
  const config = loadConfig(process.env, role);
  const log = createLogger(config.logLevel);
  let server: Server | undefined;
  let workers: RunningWorkers | undefined;
  let ctx: Context | undefined;

  // Handlers go in before anything starts: workers take jobs as soon as they exist, so a
  // SIGTERM during start-up must also wait for those, not kill them mid-transfer.
  let stopping = false;
  let starting: Promise<void> = Promise.resolve();
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await starting.catch(() => {});
    await Promise.all([
      server ? new Promise<void>((r) => server!.close(() => r())) : undefined,
      workers?.close(),
    ]);
    if (ctx) await closeContext(ctx);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  starting = (async () => {
    await ensureGeneratedSecrets(config, log);
    if (role === 'start') {
      const { migrate } = await import('./db/migrate.js');
      const applied = await migrate(config.databaseUrl, config.dbSchema);
      if (applied.length) log.info({ applied }, 'migrations applied');
    }
    ctx = await createContext(config, log);
    if (stopping) return;
    server = role === 'worker' ? await serveWorkerMetrics(ctx) : await listen(ctx, config.port);
    if (stopping) return;
    workers = role === 'api' ? undefined : await startWorkers(ctx);
  })();
  await starting;
  if (!stopping) {
    const address = server?.address();
    log.info({ role, port: typeof address === 'object' ? address?.port : undefined }, 'custody started');
  }
}

export async function runMigrate(): Promise<void> {
  const { migrate } = await import('./db/migrate.js');
  const config = loadConfig(process.env, 'migrate');
  const log = createLogger(config.logLevel);
  const applied = await migrate(config.databaseUrl, config.dbSchema, (m) => log.debug(m));
  log.info(
    { applied, schema: config.dbSchema },
    applied.length ? 'migrations applied' : 'database up to date',
  );
}
