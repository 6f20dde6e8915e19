import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setupTenant } from '../test/support/client.js';
import {
  diffCounts,
  eventLoopBusy,
  installCounters,
  isMain,
  MiB,
  median,
  now,
  type OpCounts,
  percentile,
  post,
  progress,
  quick,
  recordingHeaders,
  runPool,
  startWorkerProcess,
  waitStored,
} from './common.js';
import { type BenchRow, printTable } from './table.js';
import { startCountingHarness } from './wraps.js';

export interface E2eOptions {
  /** Recordings per run (1,000 by default). */
  count?: number;
  /** Bytes per recording (1 MiB). */
  size?: number;
  /** Requests in flight (16). */
  concurrency?: number;
  /** Also measure Custody with its workers in a separate process (informational). */
  split?: boolean;
}

interface Run {
  /** First POST sent → last response received. */
  ingestMs: number;
  /** First POST sent → done (baseline: last response; Custody: last recording stored). */
  totalMs: number;
  latencies: number[];
}

/**
 * The baseline: a bare node:http server streaming each body to its own file in a
 * directory on the same disk (no fsync, no crypto, no database, no queue).
 */
async function baselineServer(dir: string): Promise<{ url: string; close(): Promise<void> }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    const file = path.join(dir, `${n++}.wav`);
    pipeline(req, createWriteStream(file)).then(
      () => {
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      },
      () => {
        res.writeHead(500);
        res.end();
      },
    );
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The one client both sides get: node:http, keep-alive, `concurrency` in flight, same bodies. */
async function drive(
  count: number,
  concurrency: number,
  bodies: Buffer[],
  target: (i: number) => string,
  headers: Record<string, string>,
  expect: number,
): Promise<{ t0: number; tEnd: number; latencies: number[] }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  try {
    const t0 = now();
    const latencies = await runPool(count, concurrency, async (i) => {
      const r = await post(target(i), bodies[i % bodies.length]!, { agent, headers });
      if (r.status !== expect) throw new Error(`POST ${target(i)}: ${r.status} ${r.body.toString()}`);
    });
    return { t0, tEnd: now(), latencies };
  } finally {
    agent.destroy();
  }
}

interface CustodyRun extends Run {
  /** Key-provider wraps during the measured run (undefined: they happen in another process). */
  wraps: number | undefined;
  /** Round trips and fsyncs of this process during the measured run, polling excluded. */
  ops: OpCounts;
  /** Event-loop utilisation of this process during the measured run. */
  busy: number;
}

/**
 * One Custody run. `split: false` is `custody start` (API and workers in this process,
 * the single-machine default); `split: true` runs the workers as a `custody worker`
 * child process, the API staying here.
 */
async function custodyRun(
  count: number,
  concurrency: number,
  bodies: Buffer[],
  warm: number,
  split: boolean,
): Promise<CustodyRun> {
  const snapshot = await installCounters();
  const { h, counter, close } = await startCountingHarness({ workers: !split });
  try {
    const worker = split ? await startWorkerProcess(h) : undefined;
    try {
      const warmKey = (await setupTenant(h, 'bench-warm')).key;
      const { key } = await setupTenant(h, 'bench-e2e');
      // Warm-up on another tenant: connections, JIT, the pool, first directories.
      await drive(
        warm,
        concurrency,
        bodies,
        (i) => `${h.url}/v1/recordings?callId=warm-${i}`,
        recordingHeaders(warmKey),
        202,
      );
      await waitStored(h.ctx.db, 'bench-warm', warm, 120_000);
      const wrapsBefore = counter.wraps;
      const opsBefore = snapshot();
      const busy = eventLoopBusy();
      const what = split ? 'worker in a child process' : 'API and workers in one process';
      progress(`e2e: Custody (${what}), ${count} recordings at concurrency ${concurrency}`);
      const r = await drive(
        count,
        concurrency,
        bodies,
        (i) => `${h.url}/v1/recordings?callId=call-${i}`,
        recordingHeaders(key),
        202,
      );
      const stored = await waitStored(h.ctx.db, 'bench-e2e', count, 30 * 60_000);
      const ops = diffCounts(opsBefore, snapshot());
      ops.queries -= stored.polls;
      return {
        ingestMs: r.tEnd - r.t0,
        totalMs: stored.at - r.t0,
        latencies: r.latencies,
        wraps: split ? undefined : counter.wraps - wrapsBefore,
        ops,
        busy: busy(),
      };
    } finally {
      await worker?.stop();
    }
  } finally {
    await close();
  }
}

/**
 * End to end: `count` recordings posted over HTTP until all are `stored` on the local
 * target, against the bare baseline, same client, same bodies, same concurrency. With
 * `split`, also Custody with its workers in a separate process (informational).
 */
export async function runE2eBench(opts: E2eOptions = {}): Promise<BenchRow[]> {
  const count = opts.count ?? 1000;
  const size = opts.size ?? MiB;
  const concurrency = opts.concurrency ?? 16;
  // A few distinct bodies (cycled), generated once: the client costs both sides the same.
  const bodies = Array.from({ length: 8 }, () => randomBytes(size));
  const mib = (count * size) / MiB;
  const warm = Math.min(32, count);

  // Baseline.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'custody-bench-baseline-'));
  let base: Run & { busy: number };
  try {
    const server = await baselineServer(dir);
    try {
      const headers = { 'content-type': 'audio/wav', authorization: 'Bearer x' };
      await drive(warm, concurrency, bodies, (i) => `${server.url}/warm?i=${i}`, headers, 201);
      progress(`e2e: baseline, ${count} × ${size / MiB} MiB at concurrency ${concurrency}`);
      const busy = eventLoopBusy();
      const r = await drive(count, concurrency, bodies, (i) => `${server.url}/r?i=${i}`, headers, 201);
      base = { ingestMs: r.tEnd - r.t0, totalMs: r.tEnd - r.t0, latencies: r.latencies, busy: busy() };
    } finally {
      await server.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const custody = await custodyRun(count, concurrency, bodies, warm, false);
  const split = opts.split ? await custodyRun(count, concurrency, bodies, warm, true) : undefined;

  const recS = (run: Run) => count / (run.totalMs / 1000);
  const mibS = (run: Run) => mib / (run.totalMs / 1000);
  const [bRec, cRec, bMib, cMib] = [recS(base), recS(custody), mibS(base), mibS(custody)];
  const label = `${count}×${size / MiB} MiB, c=${concurrency}`;
  progress(
    `e2e: baseline ${base.totalMs.toFixed(0)} ms; Custody ingest ${custody.ingestMs.toFixed(0)} ms, ` +
      `stored ${custody.totalMs.toFixed(0)} ms` +
      (split ? `; split ingest ${split.ingestMs.toFixed(0)} ms, stored ${split.totalMs.toFixed(0)} ms` : ''),
  );
  const rows: BenchRow[] = [
    { name: `e2e: baseline node:http → files (${label})`, value: bRec, unit: 'rec/s' },
    { name: 'e2e: baseline throughput', value: bMib, unit: 'MiB/s' },
    {
      name: `e2e: Custody POST → all stored (${label})`,
      value: cRec,
      unit: 'rec/s',
      baseline: 'baseline rec/s',
      ratio: cRec / bRec,
      target: '≥ 0.5',
      ok: cRec / bRec >= 0.5,
    },
    {
      name: 'e2e: Custody throughput, POST → all stored',
      value: cMib,
      unit: 'MiB/s',
      baseline: 'baseline MiB/s',
      ratio: cMib / bMib,
      target: '≥ 0.5',
      ok: cMib / bMib >= 0.5,
    },
    {
      name: 'e2e: Custody ingest only (first POST → last 202)',
      value: mib / (custody.ingestMs / 1000),
      unit: 'MiB/s',
      baseline: 'baseline MiB/s',
      ratio: mib / (custody.ingestMs / 1000) / bMib,
    },
  ];
  if (split) {
    const sMib = mibS(split);
    rows.push(
      {
        name: 'e2e: Custody, worker as separate process, → all stored',
        value: sMib,
        unit: 'MiB/s',
        baseline: 'baseline MiB/s',
        ratio: sMib / bMib,
      },
      {
        name: 'e2e: Custody, worker as separate process, ingest only',
        value: mib / (split.ingestMs / 1000),
        unit: 'MiB/s',
        baseline: 'baseline MiB/s',
        ratio: mib / (split.ingestMs / 1000) / bMib,
      },
    );
  }
  rows.push(
    { name: 'e2e: baseline POST latency p50', value: median(base.latencies), unit: 'ms' },
    { name: 'e2e: baseline POST latency p99', value: percentile(base.latencies, 99), unit: 'ms' },
    { name: 'e2e: Custody POST→202 latency p50', value: median(custody.latencies), unit: 'ms' },
    { name: 'e2e: Custody POST→202 latency p99', value: percentile(custody.latencies, 99), unit: 'ms' },
    { name: 'e2e: baseline main-thread utilisation', value: base.busy * 100, unit: '%' },
    { name: 'e2e: Custody main-thread utilisation (one process)', value: custody.busy * 100, unit: '%' },
  );
  if (split) {
    rows.push({ name: 'e2e: Custody API process utilisation (split)', value: split.busy * 100, unit: '%' });
  }
  rows.push(
    {
      name: 'e2e: Custody PostgreSQL queries per recording',
      value: custody.ops.queries / count,
      unit: 'queries/rec',
    },
    { name: 'e2e: Custody Redis commands per recording', value: custody.ops.redis / count, unit: 'cmds/rec' },
    { name: 'e2e: Custody fsyncs per recording', value: custody.ops.fsyncs / count, unit: 'fsyncs/rec' },
    {
      name: `e2e: Custody file write calls per recording (${size / MiB} MiB)`,
      value: custody.ops.fileWrites / count,
      unit: 'writes/rec',
    },
    {
      name: `e2e: key-provider wraps per recording (${count})`,
      value: custody.wraps! / count,
      unit: 'wraps/rec',
      target: '= 1',
      ok: custody.wraps === count,
    },
  );
  return rows;
}

if (isMain(import.meta.url)) {
  const rows = await runE2eBench({
    count: quick() ? 200 : 1000,
    split: !process.argv.includes('--no-split'),
  });
  printTable('end to end', rows);
}
