import { randomBytes } from 'node:crypto';
import { AnonymousCredential, ContainerClient, newPipeline } from '@azure/storage-blob';
import { answeredS3Client } from '../../support/answered-s3.js';
import { describe, expect, it } from 'vitest';
import { AzureBlobStorageTarget } from '../../../src/storage/azure-blob/azure-blob-storage-target.js';
import { PART_SIZE, S3StorageTarget } from '../../../src/storage/s3/s3-storage-target.js';
import { streamOf } from '../../support/streams.js';

/**
 * WORM (S3 Object Lock, Azure version-level immutability) as the targets ask the store for
 * it. Neither s3rver nor Azurite implements either, so the stores here are stand-ins
 * behind the real SDK clients: they answer every request and record what was sent.
 */

const RETAIN = new Date(Date.now() + 30 * 86_400_000);

/** A real S3Client answered at its first middleware step: every command and its input recorded. */
function recordingS3(lock: { enabled?: boolean; fail?: string } = {}) {
  const sent: { name: string; input: Record<string, any> }[] = [];
  const drain = async (body: unknown) => {
    if (body && typeof body === 'object' && Symbol.asyncIterator in body) {
      for await (const _ of body as AsyncIterable<unknown>);
    }
  };
  const answer = async (name: string, input: Record<string, any>): Promise<unknown> => {
    sent.push({ name, input });
    switch (name) {
      case 'PutObjectCommand':
        await drain(input.Body);
        return { ETag: '"e"', VersionId: 'v1' };
      case 'CreateMultipartUploadCommand':
        return { UploadId: 'u1' };
      case 'UploadPartCommand':
        await drain(input.Body);
        return { ETag: `"p${input.PartNumber}"` };
      case 'CompleteMultipartUploadCommand':
        return { ETag: '"m"', VersionId: 'v2' };
      case 'PutObjectLegalHoldCommand':
        return {};
      case 'GetObjectLockConfigurationCommand':
        if (lock.fail)
          throw Object.assign(new Error(lock.fail), { name: lock.fail, $metadata: { httpStatusCode: 404 } });
        return { ObjectLockConfiguration: lock.enabled ? { ObjectLockEnabled: 'Enabled' } : {} };
      default:
        throw new Error(`unexpected ${name}`);
    }
  };
  const client = answeredS3Client(answer);
  return { client, sent };
}

const lockFields = (input: Record<string, any>) =>
  Object.fromEntries(Object.entries(input).filter(([k]) => k.startsWith('ObjectLock')));

describe('S3 target with Object Lock', () => {
  for (const [label, size] of [
    ['single PUT', 1000],
    ['multipart', PART_SIZE + 100],
  ] as const) {
    it(`puts with the retention mode and date (${label})`, async () => {
      const { client, sent } = recordingS3();
      const target = new S3StorageTarget(client, {
        bucket: 'b',
        checksumMode: 'when-required',
        objectLock: { mode: 'COMPLIANCE' },
      });
      await target.put('k.esdk', streamOf(randomBytes(size)), { contentLength: size, retainUntil: RETAIN });
      const opener = sent.find(
        (c) => c.name === 'PutObjectCommand' || c.name === 'CreateMultipartUploadCommand',
      )!;
      expect(opener.name).toBe(size > PART_SIZE ? 'CreateMultipartUploadCommand' : 'PutObjectCommand');
      expect(lockFields(opener.input)).toEqual({
        ObjectLockMode: 'COMPLIANCE',
        ObjectLockRetainUntilDate: RETAIN,
      });
    });
  }

  it('puts a held recording with the legal hold on; no retention for a date already past', async () => {
    const { client, sent } = recordingS3();
    const target = new S3StorageTarget(client, { bucket: 'b', objectLock: { mode: 'GOVERNANCE' } });
    await target.put('k.esdk', streamOf(Buffer.from('x')), {
      retainUntil: new Date(Date.now() - 1000),
      legalHold: true,
    });
    expect(lockFields(sent[0]!.input)).toEqual({ ObjectLockLegalHoldStatus: 'ON' });
  });

  it('sets and releases the legal hold on the object under the prefix', async () => {
    const { client, sent } = recordingS3();
    const target = new S3StorageTarget(client, {
      bucket: 'b',
      prefix: 'p',
      objectLock: { mode: 'GOVERNANCE' },
    });
    await target.setLegalHold!('k.esdk', true);
    await target.setLegalHold!('k.esdk', false);
    expect(sent.map((c) => c.input)).toEqual([
      { Bucket: 'b', Key: 'p/k.esdk', LegalHold: { Status: 'ON' } },
      { Bucket: 'b', Key: 'p/k.esdk', LegalHold: { Status: 'OFF' } },
    ]);
  });

  it('checks the bucket has Object Lock enabled', async () => {
    const objectLock = { mode: 'GOVERNANCE' } as const;
    await expect(
      new S3StorageTarget(recordingS3({ enabled: true }).client, { bucket: 'b', objectLock }).checkWorm!(),
    ).resolves.toBeUndefined();
    for (const lock of [{ enabled: false }, { fail: 'ObjectLockConfigurationNotFoundError' }]) {
      const target = new S3StorageTarget(recordingS3(lock).client, { bucket: 'b', objectLock });
      await expect(target.checkWorm!()).rejects.toMatchObject({
        name: 'StorageError',
        code: 'ObjectLockConfigurationNotFoundError',
      });
    }
  });

  it('without Object Lock sends nothing of it and offers no legal hold', async () => {
    const { client, sent } = recordingS3();
    const target = new S3StorageTarget(client, { bucket: 'b' });
    for (const size of [1000, PART_SIZE + 100]) {
      await target.put('k.esdk', streamOf(randomBytes(size)), {
        contentLength: size,
        retainUntil: RETAIN,
        legalHold: true,
      });
    }
    expect(sent.flatMap((c) => Object.keys(lockFields(c.input)))).toEqual([]);
    expect(target.setLegalHold).toBeUndefined();
    expect(target.checkWorm).toBeUndefined();
  });
});

interface SentRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
}

/**
 * A real ContainerClient whose HTTP client is a stand-in Blob service: it records each
 * request (method, URL, headers as the SDK serialised them) and answers it with success.
 */
function recordingAzure(container: { immutable?: boolean } = {}) {
  const sent: SentRequest[] = [];
  const httpClient = {
    async sendRequest(request: any) {
      const url = new URL(request.url);
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers.toJson() as Record<string, string>))
        headers[name.toLowerCase()] = value;
      sent.push({ method: request.method, url, headers });
      const comp = url.searchParams.get('comp');
      const answer: Record<string, string> = { etag: '"e"', 'x-ms-request-id': 'r' };
      if (request.method === 'PUT' && comp === null) answer['x-ms-version-id'] = 'v1';
      if (comp === 'blocklist') answer['x-ms-version-id'] = 'v2';
      if (url.searchParams.get('restype') === 'container')
        answer['x-ms-immutable-storage-with-versioning-enabled'] = String(container.immutable === true);
      const status =
        request.method === 'PUT' && (comp === null || comp === 'block' || comp === 'blocklist') ? 201 : 200;
      return { status, headers: { toJson: () => answer }, request, bodyAsText: '' };
    },
  };
  const pipeline = newPipeline(new AnonymousCredential(), {
    httpClient: httpClient as any,
    retryOptions: { maxTries: 1 },
  });
  return { client: new ContainerClient('https://acct.blob.core.windows.net/c', pipeline), sent };
}

const wormHeaders = (r: SentRequest) =>
  Object.fromEntries(
    Object.entries(r.headers).filter(([k]) => k.startsWith('x-ms-immutability') || k === 'x-ms-legal-hold'),
  );

describe('Azure Blob target with version-level immutability', () => {
  for (const [label, size] of [
    ['Put Blob', 100],
    ['Put Block List', 3000],
  ] as const) {
    it(`puts with the immutability policy's date and mode, and a legal hold (${label})`, async () => {
      const { client, sent } = recordingAzure();
      const target = new AzureBlobStorageTarget(client, {
        blockSize: 1024,
        immutability: { mode: 'Locked' },
      });
      await target.put('k.esdk', streamOf(randomBytes(size)), {
        contentLength: size,
        retainUntil: RETAIN,
        legalHold: true,
      });
      const commit = sent.at(-1)!;
      expect(commit.url.searchParams.get('comp')).toBe(size > 1024 ? 'blocklist' : null);
      expect(wormHeaders(commit)).toEqual({
        'x-ms-immutability-policy-until-date': RETAIN.toUTCString(),
        'x-ms-immutability-policy-mode': 'Locked',
        'x-ms-legal-hold': 'true',
      });
      // Staged blocks are invisible until the commit: they carry nothing of it.
      expect(sent.slice(0, -1).map(wormHeaders)).toEqual(sent.slice(0, -1).map(() => ({})));
    });
  }

  it('sets and releases the legal hold on the blob under the prefix', async () => {
    const { client, sent } = recordingAzure();
    const target = new AzureBlobStorageTarget(client, { prefix: 'p', immutability: { mode: 'Unlocked' } });
    await target.setLegalHold!('k.esdk', true);
    await target.setLegalHold!('k.esdk', false);
    expect(
      sent.map((r) => [
        r.method,
        r.url.pathname,
        r.url.searchParams.get('comp'),
        r.headers['x-ms-legal-hold'],
      ]),
    ).toEqual([
      ['PUT', '/c/p/k.esdk', 'legalhold', 'true'],
      ['PUT', '/c/p/k.esdk', 'legalhold', 'false'],
    ]);
  });

  it('checks the container supports version-level immutability', async () => {
    const immutability = { mode: 'Unlocked' } as const;
    await expect(
      new AzureBlobStorageTarget(recordingAzure({ immutable: true }).client, { immutability }).checkWorm!(),
    ).resolves.toBeUndefined();
    const target = new AzureBlobStorageTarget(recordingAzure({ immutable: false }).client, { immutability });
    await expect(target.checkWorm!()).rejects.toMatchObject({
      name: 'StorageError',
      code: 'ImmutableStorageWithVersioningNotEnabled',
    });
  });

  it('without immutability sends nothing of it and offers no legal hold', async () => {
    const { client, sent } = recordingAzure();
    const target = new AzureBlobStorageTarget(client, { blockSize: 1024 });
    for (const size of [100, 3000]) {
      await target.put('k.esdk', streamOf(randomBytes(size)), {
        contentLength: size,
        retainUntil: RETAIN,
        legalHold: true,
      });
    }
    expect(sent.map(wormHeaders)).toEqual(sent.map(() => ({})));
    expect(target.setLegalHold).toBeUndefined();
    expect(target.checkWorm).toBeUndefined();
  });
});
