import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { BlobServiceClient, type ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';

/** Azurite's only account and its published development key (not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const TLS_DIR = path.resolve('test/fixtures/tls');
const READY_TIMEOUT_MS = 30_000;

/**
 * With `oauth: true`, Azurite (3.35, `dist/src/blob/authentication/BlobTokenAuthenticator.js`,
 * `--oauth basic`) accepts `Authorization: Bearer <jwt>` when all of this holds:
 * - the request came over HTTPS (over HTTP: 403 AuthenticationFailed), hence the test CA's cert;
 * - the token decodes as a JWT (`jsonwebtoken.decode`; the signature is never checked, any
 *   third segment will do);
 * - `nbf`, `exp` and `iat` are all present, and `nbf <= now <= exp` (seconds);
 * - `iss` starts with `https://sts.windows.net/`, `https://sts.microsoftonline.de/`,
 *   `https://sts.chinacloudapi.cn/` or `https://sts.windows-ppe.net` (the Entra v1 issuer;
 *   the tenant id after it is not compared, and a v2 `login.microsoftonline.com` issuer fails);
 * - `aud` is exactly `https://storage.azure.com` (optional trailing `/`), the storage app id
 *   `e406a681-f3d4-42a8-90b6-c2b029497af1`, or `https://<account>.blob.core.windows.net`
 *   (or the sovereign-cloud equivalents) naming this account.
 * Anything else is 403 `AuthenticationFailed`; scopes and roles are not checked. Shared-key
 * requests keep working alongside.
 */
export interface AzuriteHandle {
  /** `http(s)://127.0.0.1:<port>/devstoreaccount1` (path-style, as Azurite serves it). */
  accountUrl: string;
  accountName: string;
  sharedKeyCredential: StorageSharedKeyCredential;
  /** A shared-key client for test set-up (creating and inspecting containers). */
  serviceClient(): BlobServiceClient;
  createContainer(name: string): Promise<ContainerClient>;
  stop(): Promise<void>;
}

/** An Azurite blob service on 127.0.0.1, a free port and a temp directory, as a child process. */
export async function startAzurite(opts: { oauth?: boolean } = {}): Promise<AzuriteHandle> {
  const location = await mkdtemp(path.join(os.tmpdir(), 'custody-azurite-'));
  const main = createRequire(import.meta.url).resolve('azurite/dist/src/blob/main.js');
  const args = [
    // The child exits when our end of its stdin closes, so a test worker that is killed
    // (and never runs its exit handlers) does not leave Azurite running.
    '--import',
    'data:text/javascript,process.stdin.on("end",()=>process.exit(0)).resume()',
    main,
    '--silent',
    '--skipApiVersionCheck', // a current @azure/storage-blob sends newer API versions
    '--disableTelemetry',
    '--location',
    location,
    '--blobHost',
    '127.0.0.1',
    // Port 0: the kernel picks a free port and Azurite prints it, so there is no race.
    '--blobPort',
    '0',
    ...(opts.oauth
      ? ['--cert', path.join(TLS_DIR, 'server.pem'), '--key', path.join(TLS_DIR, 'server.key')]
      : []),
    ...(opts.oauth ? ['--oauth', 'basic'] : []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  let origin: string;
  try {
    origin = await listeningOrigin(child);
  } catch (err) {
    process.off('exit', killOnExit);
    await stopChild(child);
    await rm(location, { recursive: true, force: true });
    throw err;
  }

  const accountUrl = `${origin}/${AZURITE_ACCOUNT}`;
  const sharedKeyCredential = new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY);
  const serviceClient = () => new BlobServiceClient(accountUrl, sharedKeyCredential);
  // Listening is not answering: one authenticated round trip proves both (and the TLS set-up).
  await serviceClient().getProperties();

  return {
    accountUrl,
    accountName: AZURITE_ACCOUNT,
    sharedKeyCredential,
    serviceClient,
    async createContainer(name) {
      const container = serviceClient().getContainerClient(name);
      await container.create();
      return container;
    },
    async stop() {
      process.off('exit', killOnExit);
      await stopChild(child);
      await rm(location, { recursive: true, force: true });
    },
  };
}

/** Resolves with `http(s)://host:port` once Azurite prints that it listens. */
function listeningOrigin(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => fail(new Error('Azurite did not start in time')), READY_TIMEOUT_MS);
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(new Error(`${err.message}\n${stdout}${stderr}`.trim()));
    };
    let ready = false;
    // Both pipes stay drained for the child's lifetime (a full pipe would block its logging).
    child.stdout?.on('data', (chunk: Buffer) => {
      if (ready) return;
      stdout += chunk.toString();
      const match = /successfully listens on (https?:\/\/[^\s]+)/.exec(stdout);
      if (match?.[1]) {
        ready = true;
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      if (!ready) stderr += chunk.toString();
    });
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`Azurite exited early (code ${code})`)));
  });
}

/** SIGTERM, then SIGKILL if it lingers; resolves when the process is gone. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
