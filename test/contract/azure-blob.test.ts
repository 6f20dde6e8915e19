import { readAll, streamOf } from '../support/streams.js';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import https from 'node:https';
import { Readable } from 'node:stream';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { AuthenticationError, CredentialUnavailableError } from '@azure/identity';
import {
  BlockBlobClient,
  ContainerClient,
  newPipeline,
  type RequestPolicy,
  type WebResource,
} from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ObjectNotFoundError, StorageError } from '../../src/errors.js';
import {
  AzureBlobStorageFactory,
  AzureBlobStorageTarget,
  azureMetadata,
  mapAzureError,
} from '../../src/storage/azure-blob/index.js';
import type { StorageTarget } from '../../src/storage/storage-target.js';
import { type AzuriteHandle, startAzurite } from '../support/azurite.js';
import { storageTargetContract } from './storage-target.suite.js';

const MiB = 1024 * 1024;
const CONTAINER = 'custody-test';
const md5Base64 = (data: Buffer) => createHash('md5').update(data).digest('base64');

// One shared-key Azurite for the file; every test gets its own prefix in one container.
let server: Promise<AzuriteHandle> | undefined;
const azurite = () => {
  server ??= startAzurite().then(async (handle) => {
    await handle.createContainer(CONTAINER);
    return handle;
  });
  return server;
};
afterAll(async () => {
  if (server) await (await server).stop();
});

async function emptyPrefix(container: ContainerClient, prefix: string): Promise<void> {
  for await (const blob of container.listBlobsFlat({ prefix })) {
    await container.deleteBlob(blob.name, { deleteSnapshots: 'include' });
  }
}

async function keysOf(target: StorageTarget, prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of target.list(prefix)) keys.push(info.key);
  return keys;
}

storageTargetContract('azure-blob (Azurite)', async () => {
  const handle = await azurite();
  const prefix = `contract/${randomUUID()}/`;
  const target = await new AzureBlobStorageFactory().create('acme', {
    accountUrl: handle.accountUrl,
    container: CONTAINER,
    prefix,
    credential: handle.sharedKeyCredential,
  });
  const container = handle.serviceClient().getContainerClient(CONTAINER);
  return { target, cleanup: () => emptyPrefix(container, prefix) };
});

describe('AzureBlobStorageTarget against Azurite', () => {
  let handle: AzuriteHandle;
  let container: ContainerClient;
  beforeAll(async () => {
    handle = await azurite();
    container = handle.serviceClient().getContainerClient(CONTAINER);
  });

  it('stages a body of several blocks, stores its MD5 and serves exact ranges', async () => {
    const target = new AzureBlobStorageTarget(container, { prefix: `blocks/${randomUUID()}` });
    const data = randomBytes(2 * 8 * MiB + 12_345); // three 8 MiB blocks
    const stage = vi.spyOn(BlockBlobClient.prototype, 'stageBlock');
    const upload = vi.spyOn(BlockBlobClient.prototype, 'upload');
    try {
      const put = await target.put('big.esdk', streamOf(data, 256 * 1024 + 3), {
        contentType: 'application/vnd.custody.esdk',
        metadata: { 'custody-recording': 'rec_1' },
      });
      expect(stage).toHaveBeenCalledTimes(3);
      expect(upload).not.toHaveBeenCalled();
      // Every block went with its own MD5, for the service to check on arrival.
      for (const [, body, , options] of stage.mock.calls) {
        expect(Buffer.from(options?.transactionalContentMD5 ?? []).toString('base64')).toBe(
          md5Base64(body as Buffer),
        );
      }
      expect(put).toEqual({
        key: 'big.esdk',
        size: data.length,
        version: expect.any(String),
        checksum: `md5:${md5Base64(data)}`,
      });
      expect(await target.head('big.esdk')).toEqual(put);

      const stored = await container.getBlobClient(`${target.prefix}big.esdk`).getProperties();
      expect(Buffer.from(stored.contentMD5 ?? []).toString('base64')).toBe(md5Base64(data));
      expect(stored.contentType).toBe('application/vnd.custody.esdk');
      // Azure metadata names are C# identifiers.
      expect(stored.metadata).toEqual({ custody_recording: 'rec_1' });

      expect((await readAll(await target.get('big.esdk'))).equals(data)).toBe(true);
      for (const [start, end] of [
        [0, 0],
        [8 * MiB - 10, 8 * MiB + 9], // across the first block boundary
        [16 * MiB - 1, 16 * MiB], // across the second
        [data.length - 100, data.length - 1],
        [5, data.length + 1000], // clipped at the end, as HTTP ranges are
      ] as const) {
        const got = await readAll(await target.get('big.esdk', { range: { start, end } }));
        expect(got.equals(data.subarray(start, end + 1)), `${start}-${end}`).toBe(true);
      }
      await expect(
        target.get('big.esdk', { range: { start: data.length, end: data.length } }),
      ).rejects.toThrow(RangeError);
    } finally {
      vi.restoreAllMocks();
      await emptyPrefix(container, target.prefix);
    }
  });

  it('sends one Put Blob with the MD5 for a body of up to one block', async () => {
    const target = new AzureBlobStorageTarget(container, { prefix: `small/${randomUUID()}` });
    const data = randomBytes(1000);
    const upload = vi.spyOn(BlockBlobClient.prototype, 'upload');
    try {
      const put = await target.put('a.esdk', streamOf(data));
      expect(upload).toHaveBeenCalledTimes(1);
      expect(put.checksum).toBe(`md5:${md5Base64(data)}`);
      expect((await target.head('a.esdk'))?.checksum).toBe(put.checksum);
    } finally {
      vi.restoreAllMocks();
      await emptyPrefix(container, target.prefix);
    }
  });

  it('keeps at most maxBlocksInFlight blocks uploading at once', async () => {
    const target = new AzureBlobStorageTarget(container, {
      prefix: `bounded/${randomUUID()}`,
      blockSize: 64 * 1024,
      maxBlocksInFlight: 2,
    });
    const original = BlockBlobClient.prototype.stageBlock;
    let active = 0;
    let peak = 0;
    vi.spyOn(BlockBlobClient.prototype, 'stageBlock').mockImplementation(async function (
      this: BlockBlobClient,
      ...args
    ) {
      active += 1;
      peak = Math.max(peak, active);
      try {
        return await original.apply(this, args);
      } finally {
        active -= 1;
      }
    });
    try {
      const data = randomBytes(MiB + 1);
      await target.put('a.esdk', streamOf(data, 10_000));
      expect(peak).toBe(2);
      expect((await readAll(await target.get('a.esdk'))).equals(data)).toBe(true);
    } finally {
      vi.restoreAllMocks();
      await emptyPrefix(container, target.prefix);
    }
  });

  it('refuses a block damaged after its MD5 was taken, committing nothing', async () => {
    // A pipeline policy that flips one byte of the second Put Block's body on the way out.
    let blocksSeen = 0;
    const corrupter = {
      create: (next: RequestPolicy): RequestPolicy => ({
        sendRequest(request: WebResource) {
          if (request.url.includes('comp=block&') || request.url.endsWith('comp=block')) {
            blocksSeen += 1;
            if (blocksSeen === 2 && Buffer.isBuffer(request.body)) {
              const damaged = Buffer.from(request.body);
              damaged[100] = (damaged[100] ?? 0) ^ 0xff;
              request.body = damaged;
            }
          }
          return next.sendRequest(request);
        },
      }),
    };
    const pipeline = newPipeline(handle.sharedKeyCredential);
    pipeline.factories.push(corrupter);
    const damagingContainer = new ContainerClient(`${handle.accountUrl}/${CONTAINER}`, pipeline);
    const prefix = `damaged/${randomUUID()}`;
    const target = new AzureBlobStorageTarget(damagingContainer, { prefix, blockSize: 64 * 1024 });
    try {
      await target.put('a.esdk', streamOf(Buffer.from('original')));
      const put = target.put('a.esdk', streamOf(randomBytes(5 * 64 * 1024)));
      // Azure answers 400 Md5Mismatch; Azurite 400 InvalidOperation ("contentMD5 doesn't match").
      await expect(put).rejects.toMatchObject({ name: 'StorageError', kind: 'transient' });
      await expect(put).rejects.toThrow(/^put failed: (Md5Mismatch|InvalidOperation) \(HTTP 400\)$/);
      expect(blocksSeen).toBeGreaterThanOrEqual(2);
      expect((await readAll(await target.get('a.esdk'))).toString()).toBe('original');
      expect(await keysOf(target)).toEqual(['a.esdk']);
    } finally {
      await emptyPrefix(container, `${prefix}/`);
    }
  });

  it('leaves no blob when the body fails after blocks were staged', async () => {
    const target = new AzureBlobStorageTarget(container, {
      prefix: `staged/${randomUUID()}`,
      blockSize: 64 * 1024,
    });
    const stage = vi.spyOn(BlockBlobClient.prototype, 'stageBlock');
    const failing = Readable.from(
      (async function* () {
        yield randomBytes(5 * 64 * 1024);
        await new Promise((resolve) => setTimeout(resolve, 50)); // let the staged blocks land
        throw new Error('upstream connection reset');
      })(),
    );
    try {
      await expect(target.put('a.esdk', failing)).rejects.toThrow('upstream connection reset');
      expect(stage.mock.calls.length).toBeGreaterThanOrEqual(4);
      expect(await target.head('a.esdk')).toBeUndefined();
      await expect(target.get('a.esdk')).rejects.toBeInstanceOf(ObjectNotFoundError);
      expect(await keysOf(target)).toEqual([]);
      // A retry commits its own blocks only.
      const data = randomBytes(3 * 64 * 1024 + 1);
      await target.put('a.esdk', streamOf(data));
      expect((await readAll(await target.get('a.esdk'))).equals(data)).toBe(true);
    } finally {
      vi.restoreAllMocks();
      await emptyPrefix(container, target.prefix);
    }
  });

  it('reports a missing container as container-missing / ContainerNotFound', async () => {
    const target = await new AzureBlobStorageFactory().open('acme', {
      accountUrl: handle.accountUrl,
      container: 'no-such-container',
      credential: handle.sharedKeyCredential,
    });
    const expected = { name: 'StorageError', kind: 'container-missing', code: 'ContainerNotFound' };
    const put = target.put('a.esdk', streamOf(Buffer.from('x')));
    await expect(put).rejects.toBeInstanceOf(StorageError);
    await expect(put).rejects.toMatchObject(expected);
    // The message names the operation only, never the response body.
    await expect(put).rejects.toThrow(/^put: the container does not exist$/);
    await expect(target.put('b.esdk', streamOf(randomBytes(9 * MiB)))).rejects.toMatchObject(expected);
    await expect(target.head('a.esdk')).rejects.toMatchObject(expected);
    await expect(target.get('a.esdk')).rejects.toMatchObject(expected);
    await expect(target.delete('a.esdk')).rejects.toMatchObject(expected);
    await expect(keysOf(target)).rejects.toMatchObject(expected);
    // Nothing was created in the account.
    expect(await handle.serviceClient().getContainerClient('no-such-container').exists()).toBe(false);
  });

  it('isolates tenants by prefix, even look-alike ones', async () => {
    const root = `tenants-${randomUUID()}`;
    const a = new AzureBlobStorageTarget(container, { prefix: `/${root}/acme` });
    const b = new AzureBlobStorageTarget(container, { prefix: `${root}/acme-corp/` });
    expect(a.prefix).toBe(`${root}/acme/`);
    expect(a.locationOf('year=2026/a.esdk')).toBe(
      `${handle.accountUrl}/${CONTAINER}/${root}/acme/year=2026/a.esdk`,
    );
    try {
      await a.put('year=2026/a.esdk', streamOf(Buffer.from('acme')));
      await b.put('year=2026/b.esdk', streamOf(Buffer.from('acme-corp')));
      await b.put('x.esdk', streamOf(Buffer.from('acme-corp')));
      expect(await keysOf(a)).toEqual(['year=2026/a.esdk']);
      expect(await keysOf(b)).toEqual(['x.esdk', 'year=2026/b.esdk']);
      expect(await a.head('x.esdk')).toBeUndefined();
      await expect(a.get('year=2026/b.esdk')).rejects.toBeInstanceOf(ObjectNotFoundError);
    } finally {
      await emptyPrefix(container, `${root}/`);
    }
  });
});

/** An unsigned, JWT-shaped token: Azurite's `--oauth basic` reads the claims, not the signature. */
function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.${Buffer.from('unsigned').toString('base64url')}`;
}

/** A stand-in for the tenant's service principal: hands out a fixed token, remembers the scopes. */
function fakeCredential(
  claims: Partial<Record<string, unknown>> = {},
): TokenCredential & { scopes: string[] } {
  const now = Math.floor(Date.now() / 1000);
  const token = fakeJwt({
    aud: 'https://storage.azure.com',
    iss: 'https://sts.windows.net/00000000-0000-0000-0000-00000000a11c/',
    iat: now - 60,
    nbf: now - 60,
    exp: now + 3600,
    appid: '11111111-1111-1111-1111-111111111111',
    ...claims,
  });
  const scopes: string[] = [];
  return {
    scopes,
    async getToken(scope): Promise<AccessToken> {
      scopes.push(...(Array.isArray(scope) ? scope : [scope]));
      return { token, expiresOnTimestamp: (now + 3600) * 1000 };
    },
  };
}

describe('azure-blob with a bearer token (Azurite --oauth basic, HTTPS)', () => {
  let handle: AzuriteHandle;
  beforeAll(async () => {
    handle = await startAzurite({ oauth: true });
    await handle.createContainer(CONTAINER);
  });
  afterAll(async () => {
    await handle?.stop();
  });

  const open = (credential: TokenCredential, factory = new AzureBlobStorageFactory()) =>
    factory.open('acme', {
      accountUrl: handle.accountUrl,
      container: CONTAINER,
      prefix: `oauth/${randomUUID()}`,
      credential,
    });

  it('stores, lists, reads and deletes with a token for https://storage.azure.com', async () => {
    expect(handle.accountUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/devstoreaccount1$/);
    const credential = fakeCredential();
    // The SSRF guard's agent goes in through pipelineOptions.agent: prove the clients use it.
    let connections = 0;
    const agent = new (class extends https.Agent {
      override createConnection(...args: Parameters<https.Agent['createConnection']>) {
        connections += 1;
        return super.createConnection(...args);
      }
    })({ keepAlive: true });
    const target = await open(credential, new AzureBlobStorageFactory({ pipelineOptions: { agent } }));
    try {
      const data = randomBytes(9 * MiB);
      const put = await target.put('year=2026/a.esdk', streamOf(data));
      expect((await target.head('year=2026/a.esdk'))?.checksum).toBe(put.checksum);
      expect((await readAll(await target.get('year=2026/a.esdk'))).equals(data)).toBe(true);
      expect(await keysOf(target)).toEqual(['year=2026/a.esdk']);
      await target.delete('year=2026/a.esdk');
      expect(await target.head('year=2026/a.esdk')).toBeUndefined();
      expect(credential.scopes).toContain('https://storage.azure.com/.default');
      expect(connections).toBeGreaterThan(0);
    } finally {
      agent.destroy();
    }
  });

  it.each([
    ['the wrong audience', { aud: 'https://vault.azure.net' }],
    ['another issuer', { iss: 'https://evil.example/tenant/' }],
    ['an expired token', { exp: Math.floor(Date.now() / 1000) - 60 }],
  ])('refuses %s as access-denied / AuthenticationFailed', async (_label, claims) => {
    const target = await open(fakeCredential(claims));
    const expected = { name: 'StorageError', kind: 'access-denied', code: 'AuthenticationFailed' };
    await expect(target.put('a.esdk', streamOf(Buffer.from('x')))).rejects.toMatchObject(expected);
    await expect(target.head('a.esdk')).rejects.toMatchObject(expected);
    await expect(target.get('a.esdk')).rejects.toThrow(/^get: access denied \(AuthenticationFailed\)$/);
  });

  it('reports a credential that cannot get a token as access-denied, with the Entra code', async () => {
    const failing = (err: Error): TokenCredential => ({
      getToken: async () => {
        throw err;
      },
    });
    const wrongSecret = new AuthenticationError(401, {
      error: 'invalid_client',
      error_description: 'AADSTS7000215: Invalid client secret provided. Trace ID: 1234',
    });
    await expect((await open(failing(wrongSecret))).head('a.esdk')).rejects.toMatchObject({
      kind: 'access-denied',
      code: 'AADSTS7000215',
      message: 'head: could not get a token (AADSTS7000215)',
    });
    const unavailable = new CredentialUnavailableError('no credential configured');
    await expect((await open(failing(unavailable))).get('a.esdk')).rejects.toMatchObject({
      kind: 'access-denied',
      code: 'CredentialUnavailableError',
    });
  });
});

describe('mapAzureError', () => {
  const restError = (statusCode: number | undefined, code: string | undefined, message = 'secret body') =>
    Object.assign(new Error(message), { name: 'RestError', statusCode, code, details: { errorCode: code } });

  it.each([
    [403, 'AuthorizationPermissionMismatch', 'access-denied'],
    [403, 'AuthorizationFailure', 'access-denied'],
    [403, 'AuthenticationFailed', 'access-denied'],
    [404, 'ContainerNotFound', 'container-missing'],
    [400, 'Md5Mismatch', 'transient'],
    [500, 'InternalError', 'transient'],
    [503, 'ServerBusy', 'transient'],
    [429, 'TooManyRequests', 'transient'],
    [undefined, 'ECONNRESET', 'transient'],
  ] as const)('HTTP %s %s → %s', (status, code, kind) => {
    const mapped = mapAzureError(restError(status, code), 'put') as StorageError;
    expect(mapped).toBeInstanceOf(StorageError);
    expect(mapped).toMatchObject({ kind, code });
    expect(mapped.message).not.toContain('secret body');
  });

  it('takes the AADSTS code from MSAL errors (identity 4.x), and lets Entra outages be transient', () => {
    const msal = (cause: Record<string, unknown>) =>
      Object.assign(
        new Error('invalid_client: AADSTS700016: Application with identifier ... was not found'),
        {
          name: 'AuthenticationRequiredError',
          cause,
        },
      );
    expect(
      mapAzureError(msal({ errorCode: 'invalid_client', errorNo: '700016', status: 400 }), 'put'),
    ).toMatchObject({
      kind: 'access-denied',
      code: 'AADSTS700016',
      message: 'put: could not get a token (AADSTS700016)',
    });
    expect(mapAzureError(msal({ errorCode: 'temporarily_unavailable', status: 503 }), 'put')).toMatchObject({
      kind: 'transient',
    });
  });

  it('names a refused endpoint, and lets aborts, range and key errors through', () => {
    expect(mapAzureError(restError(undefined, 'ENDPOINT_NOT_ALLOWED'), 'get')).toMatchObject({
      kind: 'access-denied',
      code: 'EndpointNotAllowed',
    });
    const abort = Object.assign(new Error('aborted'), { name: 'AbortError' });
    expect(mapAzureError(abort, 'get')).toBe(abort);
    const range = new RangeError('bad range');
    expect(mapAzureError(range, 'get')).toBe(range);
  });

  it('turns metadata names into C# identifiers', () => {
    expect(azureMetadata({ 'custody-recording': 'r', 'custody-format': 'f', '1st': 'x' })).toEqual({
      custody_recording: 'r',
      custody_format: 'f',
      _1st: 'x',
    });
  });
});
