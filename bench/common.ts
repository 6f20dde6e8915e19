import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Db } from '../src/db/pool.js';
import { type Harness, type HarnessOptions, startHarness } from '../test/support/harness.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** True when `moduleUrl` is the script node was started with (`npx tsx bench/<part>.ts`). */
export function isMain(moduleUrl: string): boolean {
  return !!process.argv[1] && moduleUrl === pathToFileURL(process.argv[1]).href;
}

export const quick = (argv = process.argv) => argv.includes('--quick');

/** Progress goes to stderr so stdout holds only the table. */
export function progress(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

/** Node version, CPU, cores, memory, kernel (and the load average: others may share the machine). */
export function environmentLine(loadAtStart?: string): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown cpu';
  const mem = (os.totalmem() / GiB).toFixed(1);
  const load = loadAtStart
    ? `load avg ${loadAtStart} at start, ${loadAverage()} at end`
    : `load avg ${loadAverage()}`;
  return `node ${process.version}, ${model}, ${cpus.length} cores, ${mem} GiB RAM, ${os.type()} ${os.release()}; ${load}`;
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};

export const now = () => performance.now();

/**
 * The harness with production-like timing: the test harness shortens the job lock to
 * 2 s and runs the reconciler every second, which would let a long transfer on a busy
 * event loop stall and be re-run, and adds a DB scan per second.
 */
export function startBenchHarness(opts: HarnessOptions = {}): Promise<Harness> {
  return startHarness({
    ...opts,
    env: { CUSTODY_JOB_LOCK_MS: '30000', CUSTODY_RECONCILE_INTERVAL_SECONDS: '60', ...opts.env },
  });
}

/** `size` bytes from a repeated random block, generated as read (never one big Buffer). */
export function generatedBody(size: number, chunk = MiB): Readable {
  const block = randomBytes(chunk);
  let sent = 0;
  return new Readable({
    highWaterMark: chunk,
    read() {
      if (sent >= size) {
        this.push(null);
        return;
      }
      const n = Math.min(chunk, size - sent);
      sent += n;
      this.push(n === chunk ? block : block.subarray(0, n));
    },
  });
}

export interface Posted {
  status: number;
  body: Buffer;
}

/**
 * One POST through `agent` (keep-alive), the body a Buffer or a stream of `length`
 * bytes. The same function drives the baseline server and Custody.
 */
export function post(
  url: string,
  body: Buffer | Readable,
  o: { agent?: http.Agent; headers?: Record<string, string>; length?: number } = {},
): Promise<Posted> {
  const length = Buffer.isBuffer(body) ? body.length : o.length;
  if (length === undefined) throw new Error('a streamed body needs a length');
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      agent: o.agent,
      headers: { ...o.headers, 'content-length': String(length) },
    });
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('error', reject);
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    if (Buffer.isBuffer(body)) req.end(body);
    else {
      body.once('error', (err) => req.destroy(err));
      body.pipe(req);
    }
  });
}

/** Runs `fn(0…total-1)` with at most `concurrency` in flight; returns each call's duration (ms). */
export async function runPool(
  total: number,
  concurrency: number,
  fn: (i: number) => Promise<void>,
): Promise<number[]> {
  const latencies: number[] = new Array(total);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < total; i = next++) {
      const t0 = now();
      await fn(i);
      latencies[i] = now() - t0;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, lane));
  return latencies;
}

/**
 * Polls PostgreSQL until `count` recordings of `tenantId` are stored; throws early if
 * any failed or got blocked (a benchmark of a broken run is worthless). Returns when,
 * and how many queries the polling took.
 */
export async function waitStored(
  db: Db,
  tenantId: string,
  count: number,
  timeoutMs: number,
  intervalMs = 20,
): Promise<{ at: number; polls: number }> {
  const deadline = Date.now() + timeoutMs;
  for (let polls = 1; ; polls++) {
    const { rows } = await db.query<{ stored: number; bad: number }>(
      `SELECT count(*) FILTER (WHERE status = 'stored')::int AS stored,
              count(*) FILTER (WHERE status IN ('failed', 'blocked'))::int AS bad
         FROM recordings WHERE tenant_id = $1`,
      [tenantId],
    );
    const { stored, bad } = rows[0]!;
    if (bad > 0) throw new Error(`${bad} recording(s) of ${tenantId} failed or were blocked`);
    if (stored >= count) return { at: now(), polls };
    if (Date.now() > deadline) throw new Error(`only ${stored}/${count} recordings of ${tenantId} stored`);
    await delay(intervalMs);
  }
}

/** One recording's status straight from the row. */
export async function statusOf(db: Db, id: string): Promise<string | undefined> {
  const { rows } = await db.query<{ status: string }>('SELECT status FROM recordings WHERE id = $1', [id]);
  return rows[0]?.status;
}

export async function waitRecordingStored(db: Db, id: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await statusOf(db, id);
    if (s === 'stored') return;
    if (s === 'failed' || s === 'blocked') throw new Error(`recording ${id} is ${s}`);
    if (Date.now() > deadline) throw new Error(`recording ${id} still ${s} after ${timeoutMs} ms`);
    await delay(50);
  }
}

export const recordingHeaders = (key: string) => ({
  authorization: `Bearer ${key}`,
  'content-type': 'audio/wav',
});

/** The checkout's root (where `src/cli/main.ts` lives). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Resolves once a child Custody process logs that it started (pino JSON on stdout). */
function waitStarted(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`worker did not start:\n${out}${err}`)), timeoutMs);
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('custody started')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code}) before starting:\n${out}${err}`));
    });
  });
}

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts `node <args>` (default: the worker role under tsx) with the harness's
 * environment, resolving once it is running; `stop()` sends SIGTERM (SIGKILL after 30 s).
 */
export async function startWorkerProcess(
  h: Harness,
  args = ['--import', 'tsx', 'src/cli/main.ts', 'worker'],
): Promise<WorkerProcess> {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...h.env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stop = () => {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  };
  try {
    await waitStarted(child, 120_000);
  } catch (err) {
    await stop();
    throw err;
  }
  // Keep draining its output so a chatty child never blocks on a full pipe.
  child.stdout!.resume();
  child.stderr!.resume();
  return { child, pid: child.pid!, stop };
}

export interface OpCounts {
  /** PostgreSQL queries sent by this process. */
  queries: number;
  /** Redis commands sent by this process (BullMQ scripts count as one each). */
  redis: number;
  /** fsync calls on file handles (files and directories) in this process. */
  fsyncs: number;
  /** write/writev calls on file handles (each one thread-pool round trip). */
  fileWrites: number;
}

const counts: OpCounts = { queries: 0, redis: 0, fsyncs: 0, fileWrites: 0 };
let installed: Promise<void> | undefined;

/**
 * Diagnostics only: counts round trips and fsyncs in this process by wrapping
 * `pg.Client#query`, `Redis#sendCommand` and `FileHandle#sync/write/writev` (bench-side, no change
 * to Custody). Returns a snapshot function.
 */
export async function installCounters(): Promise<() => OpCounts> {
  installed ??= (async () => {
    const q = pg.Client.prototype.query as Method;
    pg.Client.prototype.query = function (this: pg.Client, ...a: unknown[]) {
      counts.queries++;
      return q.apply(this, a);
    } as typeof pg.Client.prototype.query;
    const send = Redis.prototype.sendCommand as Method;
    Redis.prototype.sendCommand = function (this: Redis, ...a: unknown[]) {
      counts.redis++;
      return send.apply(this, a);
    } as typeof Redis.prototype.sendCommand;
    const probe = path.join(os.tmpdir(), `custody-bench-probe-${process.pid}`);
    const handle = await open(probe, 'w');
    const proto = Object.getPrototypeOf(handle) as Record<'sync' | 'write' | 'writev', Method>;
    await handle.close();
    await rm(probe, { force: true });
    const counted = (name: 'sync' | 'write' | 'writev', field: keyof OpCounts) => {
      const original = proto[name];
      proto[name] = function (this: unknown, ...a: unknown[]) {
        counts[field]++;
        return original.apply(this, a);
      };
    };
    counted('sync', 'fsyncs');
    counted('write', 'fileWrites');
    counted('writev', 'fileWrites');
  })();
  await installed;
  return () => ({ ...counts });
}

type Method = (...a: unknown[]) => unknown;

export function diffCounts(a: OpCounts, b: OpCounts): OpCounts {
  return {
    queries: b.queries - a.queries,
    redis: b.redis - a.redis,
    fsyncs: b.fsyncs - a.fsyncs,
    fileWrites: b.fileWrites - a.fileWrites,
  };
}

/** Event-loop utilisation of this process since `start` (0 idle … 1 saturated main thread). */
export function eventLoopBusy(): () => number {
  const start = performance.eventLoopUtilization();
  return () => performance.eventLoopUtilization(start).utilization;
}
