import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { type RunningWorkers, startWorkers } from '../../workers/index.js';
import { ensureGeneratedSecrets } from '../../src/config/generated-secrets.js';
import { loadConfig } from '../../src/config/index.js';
import { closeContext, type Context, type ContextOverrides, createContext } from '../../src/context.js';
import { migrate } from '../../src/db/migrate.js';
import { clientConfig } from '../../src/db/pool.js';
import { type Logger, silentLogger } from '../../src/observability/logger.js';
import { listen } from '../../src/runtime.js';

export const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://127.0.0.1:5432/test';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface HarnessOptions {
  /** Run the queue workers in-process too (default true). */
  workers?: boolean;
  env?: Record<string, string>;
  overrides?: ContextOverrides;
  /** Share an existing run's database schema, data dir and queue prefix (a second "pod"). */
  shareWith?: Harness;
  /** The process logger (default: silent); tests that read the logs pass a capturing one. */
  log?: Logger;
}

export interface Harness {
  id: string;
  ctx: Context;
  url: string;
  dataDir: string;
  schema: string;
  prefix: string;
  env: Record<string, string>;
  server: http.Server;
  workers: RunningWorkers | undefined;
  startWorkers(): Promise<void>;
  stopWorkers(): Promise<void>;
  close(): Promise<void>;
}

/**
 * One isolated Custody instance per test file: its own PostgreSQL schema, Redis queue
 * prefix and data directory, on the real PostgreSQL and Redis of the machine, with the
 * API listening on a random loopback port.
 */
export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const shared = opts.shareWith;
  const id = shared?.id ?? `${process.pid}_${randomBytes(4).toString('hex')}`;
  const schema = shared?.schema ?? `test_${id}`;
  const prefix = shared?.prefix ?? `{test-${id}}`;
  const dataDir = shared?.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'custody-test-')));
  const env: Record<string, string> = {
    DATABASE_URL,
    REDIS_URL,
    CUSTODY_DB_SCHEMA: schema,
    CUSTODY_QUEUE_PREFIX: prefix,
    CUSTODY_ADMIN_TOKEN: ADMIN_TOKEN,
    CUSTODY_DATA_DIR: dataDir,
    CUSTODY_JOB_LOCK_MS: '2000',
    CUSTODY_RECONCILE_INTERVAL_SECONDS: '1',
    // Old objects go as soon as a key job switches a recording (the grace has its own test).
    CUSTODY_KEY_JOB_DELETE_GRACE_SECONDS: '0',
    // Worker children pick a free port for their metrics endpoint.
    CUSTODY_WORKER_METRICS_PORT: '0',
    LOG_LEVEL: 'silent',
    ...(shared?.env ?? {}),
    ...opts.env,
  };
  if (!shared) await migrate(DATABASE_URL, schema);
  const config = loadConfig(env, 'start');
  const log = opts.log ?? silentLogger();
  await ensureGeneratedSecrets(config, log);
  const ctx = await createContext(config, log, opts.overrides);
  const server = await listen(ctx, 0, '127.0.0.1');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  config.publicUrl = url;

  const h: Harness = {
    id,
    ctx,
    url,
    dataDir,
    schema,
    prefix,
    env,
    server,
    workers: undefined,
    async startWorkers() {
      h.workers ??= await startWorkers(ctx);
    },
    async stopWorkers() {
      await h.workers?.close();
      h.workers = undefined;
    },
    async close() {
      await h.stopWorkers();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await closeContext(ctx);
      if (!shared) await dropEverything(schema, prefix, dataDir, env.REDIS_URL!);
    },
  };
  if (opts.workers !== false) await h.startWorkers();
  return h;
}

async function dropEverything(
  schema: string,
  prefix: string,
  dataDir: string,
  redisUrl: string,
): Promise<void> {
  const client = new pg.Client(clientConfig(DATABASE_URL));
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
  // Only this run's keys: never FLUSHALL a shared Redis.
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await redis.connect();
    const stream = redis.scanStream({ match: `${prefix}:*`, count: 500 });
    for await (const keys of stream) if ((keys as string[]).length) await redis.del(...(keys as string[]));
  } catch {
    // The test may have stopped this Redis on purpose.
  } finally {
    redis.disconnect();
  }
  await rm(dataDir, { recursive: true, force: true });
}
