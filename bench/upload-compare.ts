import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Readable } from 'node:stream';
import type { Harness } from '../test/support/harness.js';
import {
  eventLoopBusy,
  GiB,
  generatedBody,
  MiB,
  now,
  post,
  progress,
  quick,
  recordingHeaders,
  runPool,
  startBenchHarness,
  waitStored,
} from './common.js';
import { type BenchRow, printTable } from './table.js';

/**
 * The comparison s3.ts and azure.ts share: Custody (`custody start`: API and workers in
 * this process) against the store's own SDK uploading the same bytes straight to the same
 * local store, many small recordings (A) and one big one (B). Each store brings only what
 * is its own: its world, its baseline upload, its tenant registration and its call counters.
 */

export interface UploadCompareOptions {
  /** Recordings in the many-small run (1,000). */
  count?: number;
  /** Bytes per small recording (1 MiB). */
  size?: number;
  /** Bytes of the one big recording (1 GiB). */
  bigSize?: number;
  /** Requests / uploads in flight in the many-small run (16). */
  concurrency?: number;
}

/** Quick (`--quick`) or full sizes, as `npm run bench` and the standalone scripts use them. */
export const uploadCompareSizes = (isQuick: boolean): UploadCompareOptions => ({
  count: isQuick ? 200 : 1000,
  bigSize: isQuick ? 256 * MiB : GiB,
});

const TARGET = 0.7;
/**
 * Each side runs twice in ABBA order (baseline, Custody, Custody, baseline) against the
 * same store, and the BEST (shortest) time of each side counts: on this shared machine
 * noise (GC, page-cache writeback of the earlier rounds, other load) only ever adds time,
 * and the ABBA order cancels drift such as the store's directory growing between rounds.
 */
const ROUNDS = 2;

interface Timed {
  ms: number;
  /** First POST → last 202 (Custody only): the rest is the transfer to the store. */
  ingestMs?: number;
  /** Main-thread utilisation of this process (API, workers, stand-ins and client live here). */
  busy: number;
}

type Counts<Op extends string> = Record<Op, number>;

/** What one store brings to the comparison. */
export interface UploadStore<Op extends string> {
  /** `s3`, `azure`: starts row names and progress lines, and is in tenant ids. */
  id: string;
  /** The baseline in row names, e.g. `lib-storage → s3rver`. */
  baseline: string;
  /** The baseline upload of one body of `size` bytes straight to the store. */
  upload(name: string, body: Buffer | Readable, size: number): Promise<unknown>;
  /** Registers a fresh tenant on this store; resolves with its API key. */
  setupTenant(h: Harness, tenantId: string): Promise<{ key: string }>;
  /** The stand-in's running call counters (read, never reset). */
  counts(): Counts<Op>;
  /** The counter of credential / token requests, and its name in rows. */
  tokenOp: Op;
  tokenLabel: string;
  /** The key-provider counters summed per recording, and their name in rows. */
  keyOps: readonly Op[];
  keyLabel: string;
}

/**
 * Starts `startWorld`, a bench harness on it, runs `run`, then stops both (also on error).
 */
export async function withWorld<W extends { env: Record<string, string>; stop(): Promise<void> }, T>(
  startWorld: () => Promise<W>,
  run: (world: W, h: Harness) => Promise<T>,
): Promise<T> {
  const world = await startWorld();
  try {
    const h = await startBenchHarness({ env: world.env });
    try {
      return await run(world, h);
    } finally {
      await h.close();
    }
  } finally {
    await world.stop();
  }
}

/** Runs a standalone script's comparison at the quick or full sizes and prints its table. */
export async function printUploadCompare(
  title: string,
  run: (opts: UploadCompareOptions) => Promise<BenchRow[]>,
): Promise<void> {
  const q = quick();
  const rows = await run(uploadCompareSizes(q));
  printTable(`${title}${q ? ' (--quick)' : ''}`, rows);
}

async function baselineMany<Op extends string>(
  store: UploadStore<Op>,
  tag: string,
  bodies: Buffer[],
  count: number,
  c: number,
): Promise<Timed> {
  const busy = eventLoopBusy();
  const t0 = now();
  await runPool(count, c, async (i) => {
    const body = bodies[i % bodies.length]!;
    await store.upload(`baseline/${tag}/r-${i}`, body, body.length);
  });
  return { ms: now() - t0, busy: busy() };
}

async function baselineBig<Op extends string>(
  store: UploadStore<Op>,
  tag: string,
  size: number,
): Promise<Timed> {
  const busy = eventLoopBusy();
  const t0 = now();
  await store.upload(`baseline/${tag}/big`, generatedBody(size), size);
  return { ms: now() - t0, busy: busy() };
}

/** POSTs `count` recordings to a fresh tenant, then waits until all are stored. */
async function custodyMany<Op extends string>(
  h: Harness,
  store: UploadStore<Op>,
  tenantId: string,
  bodies: Buffer[],
  count: number,
  c: number,
  counts?: Counts<Op>,
): Promise<Timed> {
  const { key } = await store.setupTenant(h, tenantId);
  const agent = new http.Agent({ keepAlive: true, maxSockets: c });
  try {
    const done = countCalls(store, counts);
    const busy = eventLoopBusy();
    const t0 = now();
    await runPool(count, c, async (i) => {
      const r = await post(`${h.url}/v1/recordings?callId=${tenantId}-${i}`, bodies[i % bodies.length]!, {
        agent,
        headers: recordingHeaders(key),
      });
      if (r.status !== 202) throw new Error(`POST: ${r.status} ${r.body.toString()}`);
    });
    const ingestMs = now() - t0;
    const stored = await waitStored(h.ctx.db, tenantId, count, 30 * 60_000);
    done();
    return { ms: stored.at - t0, ingestMs, busy: busy() };
  } finally {
    agent.destroy();
  }
}

/** One big recording streamed as the POST body (never in memory), until stored. */
async function custodyBig<Op extends string>(
  h: Harness,
  store: UploadStore<Op>,
  tenantId: string,
  size: number,
  counts: Counts<Op>,
): Promise<Timed> {
  const { key } = await store.setupTenant(h, tenantId);
  const done = countCalls(store, counts);
  const busy = eventLoopBusy();
  const t0 = now();
  const r = await post(`${h.url}/v1/recordings?callId=${tenantId}-big`, generatedBody(size), {
    headers: recordingHeaders(key),
    length: size,
  });
  if (r.status !== 202) throw new Error(`POST big: ${r.status} ${r.body.toString()}`);
  const ingestMs = now() - t0;
  const stored = await waitStored(h.ctx.db, tenantId, 1, 30 * 60_000, 50);
  done();
  return { ms: stored.at - t0, ingestMs, busy: busy() };
}

/**
 * Starts counting the stand-in's credential and key-provider calls; the returned function
 * adds those made since to `into`. Started after registration: the handshake's calls are
 * not per recording. Nothing else uses the stand-in meanwhile (the baseline never runs
 * alongside).
 */
function countCalls<Op extends string>(store: UploadStore<Op>, into: Counts<Op> | undefined): () => void {
  const before = { ...store.counts() };
  return () => {
    if (!into) return;
    const after = store.counts();
    for (const op of Object.keys(into) as Op[]) into[op] += after[op] - before[op];
  };
}

const best = (runs: Timed[]) => runs.reduce((a, b) => (b.ms < a.ms ? b : a));
const order = <T>(pair: T[], baseFirst: boolean) => (baseFirst ? pair : [...pair].reverse());

interface Side<Op extends string> {
  base: Timed[];
  custody: Timed[];
  counts: Counts<Op>;
}

/**
 * Warm-up, then ABBA rounds of the many-small and the big run, then the rows. The ratio
 * is baseline time / Custody time.
 */
export async function compareUploads<Op extends string>(
  h: Harness,
  store: UploadStore<Op>,
  opts: UploadCompareOptions = {},
): Promise<BenchRow[]> {
  const count = opts.count ?? 1000;
  const size = opts.size ?? MiB;
  const bigSize = opts.bigSize ?? GiB;
  const c = opts.concurrency ?? 16;
  const { id } = store;
  // A few distinct bodies, cycled: both sides send exactly these bytes.
  const bodies = Array.from({ length: 8 }, () => randomBytes(size));
  const warm = Math.min(32, count);
  // Warm-up on both paths (connections, tokens, JIT, the pools, the store's directory);
  // Custody's on another tenant so the measured ones start as a new tenant would.
  progress(`${id}: warm-up, ${warm} recordings each way`);
  await baselineMany(store, 'warm', bodies, warm, c);
  await custodyMany(h, store, `bench-${id}-warm`, bodies, warm, c);

  const zero = () => Object.fromEntries(Object.keys(store.counts()).map((op) => [op, 0])) as Counts<Op>;
  const many: Side<Op> = { base: [], custody: [], counts: zero() };
  const big: Side<Op> = { base: [], custody: [], counts: zero() };
  for (let round = 0; round < ROUNDS; round++) {
    const baseFirst = round % 2 === 0;
    const label = `round ${round + 1}/${ROUNDS}`;
    const steps: [string, () => Promise<unknown>][] = [
      [
        `baseline ${count} × ${size / MiB} MiB`,
        async () => many.base.push(await baselineMany(store, `a${round}`, bodies, count, c)),
      ],
      [
        `Custody ${count} × ${size / MiB} MiB`,
        async () =>
          many.custody.push(
            await custodyMany(h, store, `bench-${id}-a${round}`, bodies, count, c, many.counts),
          ),
      ],
    ];
    const bigSteps: [string, () => Promise<unknown>][] = [
      [
        `baseline 1 × ${bigSize / MiB} MiB`,
        async () => big.base.push(await baselineBig(store, `b${round}`, bigSize)),
      ],
      [
        `Custody 1 × ${bigSize / MiB} MiB`,
        async () =>
          big.custody.push(await custodyBig(h, store, `bench-${id}-b${round}`, bigSize, big.counts)),
      ],
    ];
    for (const [name, step] of [...order(steps, baseFirst), ...order(bigSteps, baseFirst)]) {
      progress(`${id}: ${label}: ${name}`);
      const t = now();
      await step();
      progress(`${id}: ${label}: ${name} took ${(now() - t).toFixed(0)} ms`);
    }
  }
  return rows(store, { count, size, bigSize, c }, many, big);
}

function rows<Op extends string>(
  store: UploadStore<Op>,
  o: { count: number; size: number; bigSize: number; c: number },
  many: Side<Op>,
  big: Side<Op>,
): BenchRow[] {
  const out: BenchRow[] = [];
  const part = (tag: string, label: string, side: Side<Op>, recordings: number, bytes: number) => {
    const p = `${store.id} ${tag}`;
    const [b, cu] = [best(side.base), best(side.custody)];
    const mibS = (t: Timed) => bytes / MiB / (t.ms / 1000);
    const ratio = b.ms / cu.ms;
    const keyCalls = store.keyOps.map((op) => `${op} ${side.counts[op]}`).join(', ');
    out.push(
      {
        name: `${p}: baseline ${store.baseline} (${label}), best of ${ROUNDS}`,
        value: b.ms / 1000,
        unit: 's',
      },
      { name: `${p}: baseline throughput`, value: mibS(b), unit: 'MiB/s' },
      {
        name: `${p}: Custody POST → all stored (${label}), best of ${ROUNDS}`,
        value: cu.ms / 1000,
        unit: 's',
      },
      {
        name: `${p}: Custody throughput, POST → all stored`,
        value: mibS(cu),
        unit: 'MiB/s',
        baseline: 'baseline_time / custody_time',
        ratio,
        target: `≥ ${TARGET.toFixed(2)}`,
        ok: ratio >= TARGET,
      },
      {
        name: `${p}: Custody ingest only (first POST → last 202)`,
        value: cu.ingestMs! / 1000,
        unit: 's',
      },
      { name: `${p}: main-thread utilisation, baseline`, value: b.busy * 100, unit: '%' },
      { name: `${p}: main-thread utilisation, Custody`, value: cu.busy * 100, unit: '%' },
      {
        name: `${p}: ${store.tokenLabel} per recording (${recordings} measured, registration excluded)`,
        value: side.counts[store.tokenOp] / recordings,
        unit: 'calls/rec',
      },
      {
        name: `${p}: ${store.keyLabel} per recording (${keyCalls})`,
        value: store.keyOps.reduce((n, op) => n + side.counts[op], 0) / recordings,
        unit: 'calls/rec',
      },
    );
  };
  part('A', `${o.count}×${o.size / MiB} MiB, c=${o.c}`, many, o.count * ROUNDS, o.count * o.size);
  part('B', `1×${o.bigSize / MiB} MiB`, big, ROUNDS, o.bigSize);
  return out;
}
