import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
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
import { isMain, progress, ROOT } from './common.js';
import type { BenchRow } from './table.js';
import {
  compareUploads,
  printUploadCompare,
  type UploadCompareOptions,
  type UploadStore,
  withWorld,
} from './upload-compare.js';

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

export type AzureBenchOptions = UploadCompareOptions;

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
function upload(container: ContainerClient, name: string, body: Buffer | Readable) {
  const stream = Buffer.isBuffer(body) ? Readable.from([body]) : body;
  return container.getBlockBlobClient(name).uploadStream(stream, BLOCK_SIZE, MAX_BLOCKS_IN_FLIGHT, {
    blobHTTPHeaders: { blobContentType: 'audio/wav' },
  });
}

/** Azurite, the Entra ID / Key Vault stand-in's call counters, Azure tenants. */
function azureStore(world: AzureWorld, container: ContainerClient): UploadStore<AzureOperation> {
  return {
    id: 'azure',
    baseline: 'uploadStream → Azurite',
    upload: (name, body) => upload(container, name, body),
    setupTenant: (h, tenantId) => setupAzureTenant(h, world, tenantId),
    counts: () => world.azure.counts,
    tokenOp: 'token',
    tokenLabel: 'Entra token requests',
    keyOps: ['getKey', 'wrapKey', 'unwrapKey'],
    keyLabel: 'Key Vault calls',
  };
}

/**
 * End to end on Azure: Custody (`custody start`: API and workers in this process) against
 * `uploadStream` of the same bytes straight to the same Azurite (HTTPS, OAuth mode; a child
 * process). The Entra ID / Key Vault stand-in and the HTTP client live in this process, and
 * both sides get bearer tokens from it; the ratio is baseline time / Custody time.
 * Needs the test CA trusted (see `testCaTrusted`).
 */
export function runAzureBench(opts: AzureBenchOptions = {}): Promise<BenchRow[]> {
  if (!testCaTrusted()) {
    throw new Error(
      'the test CA is not trusted: run through bench/run.ts or bench/azure.ts, which re-run with it',
    );
  }
  return withWorld(startAzureWorld, async (world, h) => {
    const baselineName = 'bench-baseline';
    await world.azurite.createContainer(baselineName);
    const baseline = baselineContainer(world, baselineName);
    try {
      return await compareUploads(h, azureStore(world, baseline.client), opts);
    } finally {
      baseline.agent.destroy();
    }
  });
}

if (isMain(import.meta.url)) {
  if (!testCaTrusted()) process.exit(await rerunTrustingTestCa());
  await printUploadCompare('Azure end to end', runAzureBench);
}
