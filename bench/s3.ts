import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { PART_SIZE, QUEUE_SIZE } from '../src/storage/s3/s3-storage-target.js';
import type { AwsOperation } from '../test/support/aws-standin.js';
import { type AwsWorld, setupS3Tenant, startAwsWorld } from '../test/support/aws-world.js';
import type { Harness } from '../test/support/harness.js';
import {
  eventLoopBusy,
  GiB,
  generatedBody,
  isMain,
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

export interface S3BenchOptions {
  /** Recordings in the many-small run (1,000). */
  count?: number;
  /** Bytes per small recording (1 MiB). */
  size?: number;
  /** Bytes of the one big recording (1 GiB). */
  bigSize?: number;
  /** Requests / uploads in flight in the many-small run (16). */
  concurrency?: number;
}

const TARGET = 0.7;
/**
 * Each side runs twice in ABBA order (baseline, Custody, Custody, baseline) against the
 * same s3rver, and the BEST (shortest) time of each side counts: on this shared machine
 * noise (GC, page-cache writeback of the earlier rounds, other load) only ever adds time,
 * and the ABBA order cancels drift such as s3rver's directory growing between rounds.
 */
const ROUNDS = 2;

interface Timed {
  ms: number;
  /** First POST → last 202 (Custody only): the rest is the transfer to S3. */
  ingestMs?: number;
  /** Main-thread utilisation of this process (API, workers, s3rver and client all live here). */
  busy: number;
}

type Counts = Record<AwsOperation, number>;
const KMS_OPS = ['GenerateDataKey', 'Decrypt', 'DescribeKey', 'Encrypt'] as const;

/**
 * The baseline upload: lib-storage with the part size, queue size and (through the
 * s3rver client: checksums `WHEN_REQUIRED`) checksum mode Custody's S3 target uses.
 */
function upload(client: S3Client, bucket: string, key: string, body: Buffer | Readable, size: number) {
  return new Upload({
    client,
    partSize: PART_SIZE,
    queueSize: QUEUE_SIZE,
    leavePartsOnError: false,
    params: { Bucket: bucket, Key: key, Body: body, ContentLength: size, ContentType: 'audio/wav' },
  }).done();
}

async function baselineMany(
  world: AwsWorld,
  client: S3Client,
  tag: string,
  bodies: Buffer[],
  count: number,
  c: number,
) {
  const busy = eventLoopBusy();
  const t0 = now();
  await runPool(count, c, async (i) => {
    const body = bodies[i % bodies.length]!;
    await upload(client, world.s3.bucket, `baseline/${tag}/r-${i}`, body, body.length);
  });
  return { ms: now() - t0, busy: busy() };
}

async function baselineBig(world: AwsWorld, client: S3Client, tag: string, size: number): Promise<Timed> {
  const busy = eventLoopBusy();
  const t0 = now();
  await upload(client, world.s3.bucket, `baseline/${tag}/big`, generatedBody(size), size);
  return { ms: now() - t0, busy: busy() };
}

/** POSTs `count` recordings to a fresh S3 tenant, then waits until all are stored. */
async function custodyMany(
  h: Harness,
  world: AwsWorld,
  tenantId: string,
  bodies: Buffer[],
  count: number,
  c: number,
  counts?: Counts,
): Promise<Timed> {
  const { key } = await setupS3Tenant(h, world, tenantId);
  const agent = new http.Agent({ keepAlive: true, maxSockets: c });
  try {
    const done = countCalls(world, counts);
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
async function custodyBig(
  h: Harness,
  world: AwsWorld,
  tenantId: string,
  size: number,
  counts: Counts,
): Promise<Timed> {
  const { key } = await setupS3Tenant(h, world, tenantId);
  const done = countCalls(world, counts);
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
 * Starts counting the stand-in's STS/KMS calls; the returned function adds those made
 * since to `into`. Started after registration: its handshake's calls are not per recording.
 */
function countCalls(world: AwsWorld, into: Counts | undefined): () => void {
  const before = { ...world.aws.counts };
  return () => {
    if (!into) return;
    for (const op of Object.keys(into) as AwsOperation[]) into[op] += world.aws.counts[op] - before[op];
  };
}

const best = (runs: Timed[]) => runs.reduce((a, b) => (b.ms < a.ms ? b : a));
const zero = (): Counts => ({ AssumeRole: 0, GenerateDataKey: 0, Decrypt: 0, DescribeKey: 0, Encrypt: 0 });

/**
 * End to end on S3: Custody (`custody start`: API and workers in this process) against
 * lib-storage uploading the same bytes straight to the same s3rver. s3rver, the STS/KMS
 * stand-in and the HTTP client live in this process too, so both sides pay s3rver's
 * per-request CPU on the same event loop; the ratio is baseline time / Custody time.
 */
export async function runS3Bench(opts: S3BenchOptions = {}): Promise<BenchRow[]> {
  const count = opts.count ?? 1000;
  const size = opts.size ?? MiB;
  const bigSize = opts.bigSize ?? GiB;
  const c = opts.concurrency ?? 16;
  // A few distinct bodies, cycled: both sides send exactly these bytes.
  const bodies = Array.from({ length: 8 }, () => randomBytes(size));
  const world = await startAwsWorld();
  try {
    const h = await startBenchHarness({ env: world.env });
    try {
      const client = world.s3.client();
      const warm = Math.min(32, count);
      // Warm-up on both paths (connections, JIT, the pools, s3rver's bucket directory);
      // Custody's on another tenant so the measured ones start as a new tenant would.
      progress(`s3: warm-up, ${warm} recordings each way`);
      await baselineMany(world, client, 'warm', bodies, warm, c);
      await custodyMany(h, world, 'bench-s3-warm', bodies, warm, c);

      const many = { base: [] as Timed[], custody: [] as Timed[], counts: zero() };
      const big = { base: [] as Timed[], custody: [] as Timed[], counts: zero() };
      for (let round = 0; round < ROUNDS; round++) {
        const baseFirst = round % 2 === 0;
        const label = `round ${round + 1}/${ROUNDS}`;
        const steps: [string, () => Promise<unknown>][] = [
          [
            `baseline ${count} × ${size / MiB} MiB`,
            async () => many.base.push(await baselineMany(world, client, `a${round}`, bodies, count, c)),
          ],
          [
            `Custody ${count} × ${size / MiB} MiB`,
            async () =>
              many.custody.push(
                await custodyMany(h, world, `bench-s3-a${round}`, bodies, count, c, many.counts),
              ),
          ],
        ];
        const bigSteps: [string, () => Promise<unknown>][] = [
          [
            `baseline 1 × ${bigSize / MiB} MiB`,
            async () => big.base.push(await baselineBig(world, client, `b${round}`, bigSize)),
          ],
          [
            `Custody 1 × ${bigSize / MiB} MiB`,
            async () =>
              big.custody.push(await custodyBig(h, world, `bench-s3-b${round}`, bigSize, big.counts)),
          ],
        ];
        for (const [name, step] of [...order(steps, baseFirst), ...order(bigSteps, baseFirst)]) {
          progress(`s3: ${label}: ${name}`);
          const t = now();
          await step();
          progress(`s3: ${label}: ${name} took ${(now() - t).toFixed(0)} ms`);
        }
      }
      return rows({ count, size, bigSize, c }, many, big);
    } finally {
      await h.close();
    }
  } finally {
    await world.stop();
  }
}

const order = <T>(pair: T[], baseFirst: boolean) => (baseFirst ? pair : [...pair].reverse());

interface Side {
  base: Timed[];
  custody: Timed[];
  counts: Counts;
}

function rows(
  o: { count: number; size: number; bigSize: number; c: number },
  many: Side,
  big: Side,
): BenchRow[] {
  const out: BenchRow[] = [];
  const part = (tag: string, label: string, side: Side, recordings: number, bytes: number) => {
    const [b, cu] = [best(side.base), best(side.custody)];
    const mibS = (t: Timed) => bytes / MiB / (t.ms / 1000);
    const ratio = b.ms / cu.ms;
    out.push(
      {
        name: `s3 ${tag}: baseline lib-storage → s3rver (${label}), best of ${ROUNDS}`,
        value: b.ms / 1000,
        unit: 's',
      },
      { name: `s3 ${tag}: baseline throughput`, value: mibS(b), unit: 'MiB/s' },
      {
        name: `s3 ${tag}: Custody POST → all stored (${label}), best of ${ROUNDS}`,
        value: cu.ms / 1000,
        unit: 's',
      },
      {
        name: `s3 ${tag}: Custody throughput, POST → all stored`,
        value: mibS(cu),
        unit: 'MiB/s',
        baseline: 'baseline_time / custody_time',
        ratio,
        target: `≥ ${TARGET.toFixed(2)}`,
        ok: ratio >= TARGET,
      },
      {
        name: `s3 ${tag}: Custody ingest only (first POST → last 202)`,
        value: cu.ingestMs! / 1000,
        unit: 's',
      },
      { name: `s3 ${tag}: main-thread utilisation, baseline`, value: b.busy * 100, unit: '%' },
      { name: `s3 ${tag}: main-thread utilisation, Custody`, value: cu.busy * 100, unit: '%' },
      {
        name: `s3 ${tag}: STS AssumeRole per recording (${recordings} measured, registration excluded)`,
        value: side.counts.AssumeRole / recordings,
        unit: 'calls/rec',
      },
      {
        name: `s3 ${tag}: KMS calls per recording (${KMS_OPS.map((op) => `${op} ${side.counts[op]}`).join(', ')})`,
        value: KMS_OPS.reduce((n, op) => n + side.counts[op], 0) / recordings,
        unit: 'calls/rec',
      },
    );
  };
  part('A', `${o.count}×${o.size / MiB} MiB, c=${o.c}`, many, o.count * ROUNDS, o.count * o.size);
  part('B', `1×${o.bigSize / MiB} MiB`, big, ROUNDS, o.bigSize);
  return out;
}

if (isMain(import.meta.url)) {
  const q = quick();
  const rows = await runS3Bench({ count: q ? 200 : 1000, bigSize: q ? 256 * MiB : GiB });
  printTable(`S3 end to end${q ? ' (--quick)' : ''}`, rows);
}
