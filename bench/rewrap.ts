import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Harness } from '../test/support/harness.js';
import { type AwsWorld, s3Body, setupS3Tenant, startAwsWorld } from '../test/support/aws-world.js';
import { api } from '../test/support/client.js';
import { FaultProxy } from '../test/support/fault-proxy.js';
import { PartCopyProxy } from '../test/support/part-copy-proxy.js';
import {
  generatedBody,
  isMain,
  MiB,
  now,
  post,
  progress,
  quick,
  recordingHeaders,
  startBenchHarness,
  waitStored,
} from './common.js';
import { type BenchRow, printTable } from './table.js';

export interface RewrapBenchOptions {
  /** One large recording, rewrapped alone. */
  largeSize?: number;
  /** Many small recordings, rewrapped by one job. */
  smallCount?: number;
  smallSize?: number;
}

export const rewrapSizes = (isQuick: boolean): RewrapBenchOptions =>
  isQuick
    ? { largeSize: 64 * MiB, smallCount: 50, smallSize: MiB }
    : { largeSize: 256 * MiB, smallCount: 200, smallSize: MiB };

interface Tenant {
  id: string;
  key: string;
  roleArn: string;
  prefix: string;
  ids: string[];
}

/**
 * Rewrap after a key rotation on S3, two ways side by side in one run:
 * - **server-side**: the tenant registered through the part-copy stand-in (s3rver plus
 *   UploadPartCopy), so a large recording's new object is its new header and first 5 MiB
 *   sent by Custody, the rest copied "in the store";
 * - **streamed**: the tenant on s3rver directly (no UploadPartCopy), every byte read and
 *   written again by Custody.
 * The stand-in does the "store's" copy in this same process, so its time here is an upper
 * bound of what S3 would take; what the figures show is the traffic through Custody and the
 * cost of the job's own work. Many small recordings are compared with the plainest copy
 * there is: GetObject + PutObject of the same objects, one after the other.
 */
export async function runRewrapBench(opts: RewrapBenchOptions = rewrapSizes(false)): Promise<BenchRow[]> {
  const { largeSize = 256 * MiB, smallCount = 200, smallSize = MiB } = opts;
  const world = await startAwsWorld();
  const proxy = await new PartCopyProxy(world.s3).start();
  // A store some way off: every request through this one waits STORE_LATENCY_MS first.
  const distant = await new FaultProxy(world.s3.endpoint).start();
  distant.latencyMs = STORE_LATENCY_MS;
  try {
    const rows = await withHarness(world, 4, (h) => rewrapLarge(h, world, proxy, largeSize));
    const small = new Array(smallCount).fill(smallSize);
    const perSecond: number[] = [];
    let baseline = 0;
    for (const concurrency of [1, 4]) {
      await withHarness(world, concurrency, async (h) => {
        const t = await tenantOn(h, world, `rw-small-${concurrency}`, distant.endpoint, small);
        await rotate(h, world, t, distant.endpoint);
        progress(`rewrap: ${smallCount} small recordings, ${concurrency} at a time`);
        perSecond.push((smallCount * 1000) / (await rewrap(h, t.id, smallCount)));
        if (concurrency === 1)
          baseline = (smallCount * 1000) / (await plainCopies(h, world, t, distant.endpoint));
      });
    }
    const what = `rewrap ${smallCount} × ${(smallSize / MiB).toFixed(0)} MiB, store ${STORE_LATENCY_MS} ms away`;
    return [
      ...rows,
      {
        name: `${what}, 1 at a time`,
        value: perSecond[0]!,
        unit: 'rec/s',
        baseline: 'Get+PutObject',
        ratio: perSecond[0]! / baseline,
      },
      {
        name: `${what}, 4 at a time`,
        value: perSecond[1]!,
        unit: 'rec/s',
        baseline: '1 at a time',
        ratio: perSecond[1]! / perSecond[0]!,
      },
      { name: `${what}: Get+PutObject, one by one`, value: baseline, unit: 'rec/s' },
    ];
  } finally {
    await distant.stop();
    await proxy.stop();
    await world.stop();
  }
}

const STORE_LATENCY_MS = 15;

async function withHarness<T>(
  world: AwsWorld,
  concurrency: number,
  run: (h: Harness) => Promise<T>,
): Promise<T> {
  const h = await startBenchHarness({
    env: {
      ...world.env,
      CUSTODY_KEY_JOB_DELETE_GRACE_SECONDS: '0',
      CUSTODY_KEY_JOB_CONCURRENCY: String(concurrency),
    },
  });
  try {
    return await run(h);
  } finally {
    await h.close();
  }
}

/** One large recording rewrapped server-side (through the part-copy stand-in) and streamed. */
async function rewrapLarge(
  h: Harness,
  world: AwsWorld,
  proxy: PartCopyProxy,
  largeSize: number,
): Promise<BenchRow[]> {
  // A rewrap job takes every recording of the tenant not on the new version: one tenant each.
  const copying = await tenantOn(h, world, 'rw-copy', proxy.endpoint, [largeSize]);
  const streaming = await tenantOn(h, world, 'rw-stream', world.s3.endpoint, [largeSize]);
  await rotate(h, world, copying, proxy.endpoint);
  await rotate(h, world, streaming, world.s3.endpoint);
  progress('rewrap: the large recording, server-side');
  const readBefore = proxy.bytesRead;
  const copyRun = await rewrap(h, copying.id, 1);
  const copyTraffic = proxy.bytesRead - readBefore + (await streamedBytes(h, 'rewrap'));
  progress('rewrap: the large recording, streamed');
  const streamedBefore = await streamedBytes(h, 'rewrap');
  const streamRun = await rewrap(h, streaming.id, 1);
  const streamTraffic = 2 * ((await streamedBytes(h, 'rewrap')) - streamedBefore);
  const large = `${(largeSize / MiB).toFixed(0)} MiB`;
  return [
    {
      name: `rewrap 1 × ${large}: server-side copy`,
      value: copyRun / 1000,
      unit: 's',
      baseline: 'streamed',
      ratio: streamRun / copyRun,
    },
    { name: `rewrap 1 × ${large}: streamed`, value: streamRun / 1000, unit: 's' },
    {
      name: `rewrap 1 × ${large}: bytes through Custody, server-side`,
      value: copyTraffic / MiB,
      unit: 'MiB',
      baseline: 'streamed',
      ratio: streamTraffic / copyTraffic,
    },
    {
      name: `rewrap 1 × ${large}: bytes through Custody, streamed`,
      value: streamTraffic / MiB,
      unit: 'MiB',
    },
  ];
}

/** A tenant on `endpoint` with one recording of each size, all stored. */
async function tenantOn(
  h: Harness,
  world: AwsWorld,
  id: string,
  endpoint: string,
  sizes: number[],
): Promise<Tenant> {
  const t = await setupS3Tenant(h, world, id, { register: false });
  const res = await api(h, 'PUT', `/v1/tenants/${id}/storage`, { json: { ...s3Body(world, t), endpoint } });
  if (res.status !== 200) throw new Error(`register ${id}: ${res.status} ${res.bytes}`);
  progress(
    `${id}: posting ${sizes.length} recording(s), ${(sizes.reduce((a, b) => a + b, 0) / MiB).toFixed(0)} MiB`,
  );
  const ids: string[] = [];
  for (const [i, size] of sizes.entries()) {
    const r = await post(`${h.url}/v1/recordings?callId=${id}-${i}`, generatedBody(size), {
      headers: recordingHeaders(t.key),
      length: size,
    });
    if (r.status !== 202) throw new Error(`post: ${r.status} ${r.body}`);
    ids.push(JSON.parse(r.body.toString()).id as string);
  }
  await waitStored(h.ctx.db, id, sizes.length, 30 * 60_000, 200);
  return { id, key: t.key, roleArn: t.roleArn, prefix: t.prefix, ids };
}

/** A second KMS key registered as the tenant's new storage version. */
async function rotate(h: Harness, world: AwsWorld, t: Tenant, endpoint: string): Promise<void> {
  const keyArn = world.aws.createKey('us-east-1');
  world.aws.grantRole(keyArn, t.roleArn);
  const body = { ...s3Body(world, { ...t, keyArn }), endpoint };
  const res = await api(h, 'PUT', `/v1/tenants/${t.id}/storage`, { json: body });
  if (res.status !== 200) throw new Error(`rotate ${t.id}: ${res.status} ${res.bytes}`);
}

/** Runs a rewrap job of the tenant to its end (expecting `count` recordings); returns its wall time (ms). */
async function rewrap(h: Harness, tenantId: string, count: number): Promise<number> {
  const t0 = now();
  const started = await api(h, 'POST', `/v1/tenants/${tenantId}/key-jobs`, {
    json: { kind: 'rewrap', ratePerSecond: 1000 },
  });
  if (started.status !== 202) throw new Error(`start: ${started.status} ${started.bytes}`);
  for (;;) {
    const job = (await api(h, 'GET', `/v1/tenants/${tenantId}/key-jobs/${started.body.id}`)).body;
    if (job.status !== 'running') {
      if (job.status !== 'done' || job.done !== count) throw new Error(`job ended ${JSON.stringify(job)}`);
      return now() - t0;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `custody_key_job_bytes_total{kind, method="streamed"}` so far. */
async function streamedBytes(h: Harness, kind: string): Promise<number> {
  const metric = await h.ctx.metrics.keyJobBytes.get();
  return metric.values.find((v) => v.labels.kind === kind && v.labels.method === 'streamed')?.value ?? 0;
}

/**
 * The plainest copy of the small recordings' objects as they are now: GetObject, then
 * PutObject of the bytes under another key, one after the other (ms).
 */
async function plainCopies(h: Harness, world: AwsWorld, t: Tenant, endpoint: string): Promise<number> {
  const { rows } = await h.ctx.db.query<{ object_key: string }>(
    'SELECT object_key FROM recordings WHERE id = ANY($1)',
    [t.ids],
  );
  const client = world.s3.client(endpoint);
  const Bucket = world.s3.bucket;
  const t0 = now();
  for (const { object_key } of rows) {
    const Key = `${t.prefix}/${object_key}`;
    const got = await client.send(new GetObjectCommand({ Bucket, Key }));
    const Body = Buffer.from(await got.Body!.transformToByteArray());
    await client.send(new PutObjectCommand({ Bucket, Key: `${Key}.copy`, Body }));
  }
  return now() - t0;
}

if (isMain(import.meta.url)) printTable('Rewrap', await runRewrapBench(rewrapSizes(quick())));
