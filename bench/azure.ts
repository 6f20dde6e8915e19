import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ClientSecretCredential } from '@azure/identity';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import type { AzureBlobPipelineOptions } from '../src/storage/azure-blob/azure-blob-storage-factory.js';
import { BLOCK_SIZE, MAX_BLOCKS_IN_FLIGHT } from '../src/storage/azure-blob/azure-blob-storage-target.js';
import type { AzureOperation } from '../test/support/azure-standin.js';
import { type AzureWorld, setupAzureTenant, startAzureWorld } from '../test/support/azure-world.js';
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
  ROOT,
  recordingHeaders,
  runPool,
  startBenchHarness,
  waitStored,
} from './common.js';
import { type BenchRow, printTable } from './table.js';

// ---------------------------------------------------------------------------------------
// Trusting the test CA. Azurite (OAuth mode) and the Entra ID / Key Vault stand-in serve
// HTTPS with the test CA's certificate, and Node reads NODE_EXTRA_CA_CERTS only at start,
// so a bench process that was not started with it re-runs itself with it set (as
// vitest.config.ts does for the tests: a bundle of any CAs already configured + the test CA).
// ---------------------------------------------------------------------------------------

const TEST_CA_FILE = path.join(ROOT, 'test/fixtures/tls/ca.pem');
const RESPAWN_MARK = 'CUSTODY_BENCH_CA_RESPAWNED';

const readOrEmpty = (file: string | undefined) => {
  if (!file) return '';
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

/** True when this process was started with the test CA in NODE_EXTRA_CA_CERTS. */
export function testCaTrusted(): boolean {
  return readOrEmpty(process.env.NODE_EXTRA_CA_CERTS).includes(readFileSync(TEST_CA_FILE, 'utf8').trim());
}

/** The bundle file: any existing NODE_EXTRA_CA_CERTS file's CAs plus the test CA. */
function testCaBundle(): string {
  const testCa = readFileSync(TEST_CA_FILE, 'utf8');
  const existing = process.env.NODE_EXTRA_CA_CERTS;
  const bundle =
    existing && !path.basename(existing).startsWith('custody-test-ca-bundle') && readOrEmpty(existing)
      ? `${readOrEmpty(existing)}\n${testCa}`
      : testCa;
  const digest = createHash('sha256').update(bundle).digest('hex').slice(0, 12);
  const file = path.join(os.tmpdir(), `custody-test-ca-bundle-${digest}.pem`);
  writeFileSync(file, bundle);
  return file;
}

/**
 * Re-runs this very command (same node flags, e.g. tsx's loader, same script and
 * arguments, inherited stdio) with the test CA trusted; resolves with its exit code.
 */
export function rerunTrustingTestCa(): Promise<number> {
  if (process.env[RESPAWN_MARK]) {
    throw new Error(`NODE_EXTRA_CA_CERTS=${process.env.NODE_EXTRA_CA_CERTS} does not hold the test CA`);
  }
  progress(`re-running with the test CA trusted (NODE_EXTRA_CA_CERTS)`);
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: testCaBundle(), [RESPAWN_MARK]: '1' },
  });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

// ---------------------------------------------------------------------------------------

export interface AzureBenchOptions {
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
 * As in s3.ts: each side runs twice in ABBA order (baseline, Custody, Custody, baseline)
 * against the same Azurite, and the BEST (shortest) time of each side counts: noise only
 * ever adds time, and the ABBA order cancels drift such as Azurite's store growing.
 */
const ROUNDS = 2;

interface Timed {
  ms: number;
  /** First POST → last 202 (Custody only): the rest is the transfer to Blob storage. */
  ingestMs?: number;
  /** Main-thread utilisation of this process (API, workers, stand-in and client live here). */
  busy: number;
}

type Counts = Record<AzureOperation, number>;
const KV_OPS = ['getKey', 'wrapKey', 'unwrapKey'] as const;

/**
 * The baseline's blob client: a service principal of the stand-in's Entra ID
 * (`ClientSecretCredential`, bearer tokens over HTTPS, as Custody's tenants use), through
 * a keep-alive HTTPS agent with the pool size of Custody's guarded agents (64).
 */
function baselineContainer(
  world: AzureWorld,
  container: string,
): { client: ContainerClient; agent: https.Agent } {
  const clientId = randomUUID();
  const clientSecret = `secret-${randomBytes(18).toString('base64url')}`;
  world.azure.addApp({ entraTenantId: world.azure.vaultTenantId, clientId, clientSecret });
  const credential = new ClientSecretCredential(
    world.azure.vaultTenantId,
    clientId,
    clientSecret,
    world.azure.credentialOptions(),
  );
  const agent = new https.Agent({ keepAlive: true, maxSockets: 64 });
  const options: AzureBlobPipelineOptions = { agent };
  const service = new BlobServiceClient(world.azurite.accountUrl, credential, options);
  return { client: service.getContainerClient(container), agent };
}

/** The baseline upload: `uploadStream` with Custody's block size and blocks in flight. */
function upload(container: ContainerClient, name: string, body: Readable) {
  return container.getBlockBlobClient(name).uploadStream(body, BLOCK_SIZE, MAX_BLOCKS_IN_FLIGHT, {
    blobHTTPHeaders: { blobContentType: 'audio/wav' },
  });
}

async function baselineMany(
  container: ContainerClient,
  tag: string,
  bodies: Buffer[],
  count: number,
  c: number,
) {
  const busy = eventLoopBusy();
  const t0 = now();
  await runPool(count, c, async (i) => {
    await upload(container, `baseline/${tag}/r-${i}`, Readable.from([bodies[i % bodies.length]!]));
  });
  return { ms: now() - t0, busy: busy() };
}

async function baselineBig(container: ContainerClient, tag: string, size: number): Promise<Timed> {
  const busy = eventLoopBusy();
  const t0 = now();
  await upload(container, `baseline/${tag}/big`, generatedBody(size));
  return { ms: now() - t0, busy: busy() };
}

/** POSTs `count` recordings to a fresh Azure tenant, then waits until all are stored. */
async function custodyMany(
  h: Harness,
  world: AzureWorld,
  tenantId: string,
  bodies: Buffer[],
  count: number,
  c: number,
  counts?: Counts,
): Promise<Timed> {
  const { key } = await setupAzureTenant(h, world, tenantId);
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
  world: AzureWorld,
  tenantId: string,
  size: number,
  counts: Counts,
): Promise<Timed> {
  const { key } = await setupAzureTenant(h, world, tenantId);
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
 * Starts counting the stand-in's Entra/Key Vault calls; the returned function adds those
 * made since to `into`. Started after registration: the handshake's calls are not per
 * recording. Nothing else uses the stand-in meanwhile (the baseline never runs alongside).
 */
function countCalls(world: AzureWorld, into: Counts | undefined): () => void {
  const before = { ...world.azure.counts };
  return () => {
    if (!into) return;
    for (const op of Object.keys(into) as AzureOperation[]) into[op] += world.azure.counts[op] - before[op];
  };
}

const best = (runs: Timed[]) => runs.reduce((a, b) => (b.ms < a.ms ? b : a));
const zero = (): Counts => ({ token: 0, getKey: 0, wrapKey: 0, unwrapKey: 0 });
const order = <T>(pair: T[], baseFirst: boolean) => (baseFirst ? pair : [...pair].reverse());

/**
 * End to end on Azure: Custody (`custody start`: API and workers in this process) against
 * `uploadStream` of the same bytes straight to the same Azurite (HTTPS, OAuth mode; a child
 * process). The Entra ID / Key Vault stand-in and the HTTP client live in this process, and
 * both sides get bearer tokens from it; the ratio is baseline time / Custody time.
 * Needs the test CA trusted (see `testCaTrusted`).
 */
export async function runAzureBench(opts: AzureBenchOptions = {}): Promise<BenchRow[]> {
  if (!testCaTrusted()) {
    throw new Error(
      'the test CA is not trusted: run through bench/run.ts or bench/azure.ts, which re-run with it',
    );
  }
  const count = opts.count ?? 1000;
  const size = opts.size ?? MiB;
  const bigSize = opts.bigSize ?? GiB;
  const c = opts.concurrency ?? 16;
  // A few distinct bodies, cycled: both sides send exactly these bytes.
  const bodies = Array.from({ length: 8 }, () => randomBytes(size));
  const world = await startAzureWorld();
  try {
    const h = await startBenchHarness({ env: world.env });
    let agent: https.Agent | undefined;
    try {
      const baselineName = 'bench-baseline';
      await world.azurite.createContainer(baselineName);
      const baseline = baselineContainer(world, baselineName);
      agent = baseline.agent;
      const client = baseline.client;
      const warm = Math.min(32, count);
      // Warm-up on both paths (connections, tokens, JIT, the pools, Azurite's store);
      // Custody's on another tenant so the measured ones start as a new tenant would.
      progress(`azure: warm-up, ${warm} recordings each way`);
      await baselineMany(client, 'warm', bodies, warm, c);
      await custodyMany(h, world, 'bench-azure-warm', bodies, warm, c);

      const many = { base: [] as Timed[], custody: [] as Timed[], counts: zero() };
      const big = { base: [] as Timed[], custody: [] as Timed[], counts: zero() };
      for (let round = 0; round < ROUNDS; round++) {
        const baseFirst = round % 2 === 0;
        const label = `round ${round + 1}/${ROUNDS}`;
        const steps: [string, () => Promise<unknown>][] = [
          [
            `baseline ${count} × ${size / MiB} MiB`,
            async () => many.base.push(await baselineMany(client, `a${round}`, bodies, count, c)),
          ],
          [
            `Custody ${count} × ${size / MiB} MiB`,
            async () =>
              many.custody.push(
                await custodyMany(h, world, `bench-azure-a${round}`, bodies, count, c, many.counts),
              ),
          ],
        ];
        const bigSteps: [string, () => Promise<unknown>][] = [
          [
            `baseline 1 × ${bigSize / MiB} MiB`,
            async () => big.base.push(await baselineBig(client, `b${round}`, bigSize)),
          ],
          [
            `Custody 1 × ${bigSize / MiB} MiB`,
            async () =>
              big.custody.push(await custodyBig(h, world, `bench-azure-b${round}`, bigSize, big.counts)),
          ],
        ];
        for (const [name, step] of [...order(steps, baseFirst), ...order(bigSteps, baseFirst)]) {
          progress(`azure: ${label}: ${name}`);
          const t = now();
          await step();
          progress(`azure: ${label}: ${name} took ${(now() - t).toFixed(0)} ms`);
        }
      }
      return rows({ count, size, bigSize, c }, many, big);
    } finally {
      agent?.destroy();
      await h.close();
    }
  } finally {
    await world.stop();
  }
}

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
        name: `azure ${tag}: baseline uploadStream → Azurite (${label}), best of ${ROUNDS}`,
        value: b.ms / 1000,
        unit: 's',
      },
      { name: `azure ${tag}: baseline throughput`, value: mibS(b), unit: 'MiB/s' },
      {
        name: `azure ${tag}: Custody POST → all stored (${label}), best of ${ROUNDS}`,
        value: cu.ms / 1000,
        unit: 's',
      },
      {
        name: `azure ${tag}: Custody throughput, POST → all stored`,
        value: mibS(cu),
        unit: 'MiB/s',
        baseline: 'baseline_time / custody_time',
        ratio,
        target: `≥ ${TARGET.toFixed(2)}`,
        ok: ratio >= TARGET,
      },
      {
        name: `azure ${tag}: Custody ingest only (first POST → last 202)`,
        value: cu.ingestMs! / 1000,
        unit: 's',
      },
      { name: `azure ${tag}: main-thread utilisation, baseline`, value: b.busy * 100, unit: '%' },
      { name: `azure ${tag}: main-thread utilisation, Custody`, value: cu.busy * 100, unit: '%' },
      {
        name: `azure ${tag}: Entra token requests per recording (${recordings} measured, registration excluded)`,
        value: side.counts.token / recordings,
        unit: 'calls/rec',
      },
      {
        name: `azure ${tag}: Key Vault calls per recording (${KV_OPS.map((op) => `${op} ${side.counts[op]}`).join(', ')})`,
        value: KV_OPS.reduce((n, op) => n + side.counts[op], 0) / recordings,
        unit: 'calls/rec',
      },
    );
  };
  part('A', `${o.count}×${o.size / MiB} MiB, c=${o.c}`, many, o.count * ROUNDS, o.count * o.size);
  part('B', `1×${o.bigSize / MiB} MiB`, big, ROUNDS, o.bigSize);
  return out;
}

if (isMain(import.meta.url)) {
  if (!testCaTrusted()) process.exit(await rerunTrustingTestCa());
  const q = quick();
  const rows = await runAzureBench({ count: q ? 200 : 1000, bigSize: q ? 256 * MiB : GiB });
  printTable(`Azure end to end${q ? ' (--quick)' : ''}`, rows);
}
