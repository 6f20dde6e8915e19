import { readAll, streamOf } from '../support/streams.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ObjectNotFoundError, StorageError } from '../../src/errors.js';
import { S3StorageFactory, S3StorageTarget, s3ClientConfig } from '../../src/storage/s3/index.js';
import { type S3rverHandle, startS3rver } from '../support/s3rver.js';
import { storageTargetContract } from './storage-target.suite.js';

const MiB = 1024 * 1024;

// One server for the file; every test gets its own prefix in the shared bucket.
let server: Promise<S3rverHandle> | undefined;
const s3rver = () => {
  server ??= startS3rver();
  return server;
};
afterAll(async () => {
  if (server) await (await server).stop();
});

async function emptyPrefix(client: S3Client, bucket: string, prefix: string): Promise<void> {
  for (;;) {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
    if (keys.length === 0) return;
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
  }
}

storageTargetContract('s3 (s3rver)', async () => {
  const { bucket, client } = await s3rver();
  const s3 = client();
  const prefix = `contract/${randomUUID()}/`;
  const target = new S3StorageTarget(s3, { bucket, prefix, checksumMode: 'when-required' });
  return { target, cleanup: () => emptyPrefix(s3, bucket, prefix) };
});

async function keysOf(target: S3StorageTarget, prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of target.list(prefix)) keys.push(info.key);
  return keys;
}

describe('S3StorageTarget against s3rver', () => {
  let handle: S3rverHandle;
  let client: S3Client;
  beforeAll(async () => {
    handle = await s3rver();
    client = handle.client();
  });

  it('reports a missing bucket as container-missing / NoSuchBucket', async () => {
    const target = new S3StorageTarget(client, { bucket: 'no-such-bucket', checksumMode: 'when-required' });
    const expected = { name: 'StorageError', kind: 'container-missing', code: 'NoSuchBucket' };
    const put = target.put('a.esdk', streamOf(Buffer.from('x')));
    await expect(put).rejects.toBeInstanceOf(StorageError);
    await expect(put).rejects.toMatchObject(expected);
    await expect(target.get('a.esdk')).rejects.toMatchObject(expected);
    await expect(keysOf(target)).rejects.toMatchObject(expected);
    // The message names the operation only, never the response body.
    await expect(put).rejects.toThrow(/^put: the bucket does not exist$/);
  });

  it('streams a multipart upload (> 8 MiB) that round-trips, with exact ranged gets', async () => {
    const prefix = `multipart/${randomUUID()}`;
    const target = new S3StorageTarget(client, {
      bucket: handle.bucket,
      prefix,
      checksumMode: 'when-required',
    });
    try {
      const data = randomBytes(2 * 8 * MiB + 12_345); // three parts
      const spy = vi.spyOn(client, 'send');
      const put = await target.put('big.esdk', streamOf(data, 256 * 1024 + 3), {
        contentType: 'application/octet-stream',
        metadata: { 'recording-id': 'rec_1' },
      });
      expect(put.size).toBe(data.length);
      const sent = spy.mock.calls.map(([command]) => command.constructor.name);
      expect(sent.filter((name) => name === 'UploadPartCommand')).toHaveLength(3);
      expect(sent).toContain('CompleteMultipartUploadCommand');
      expect(put.version).toBeDefined();
      expect(await target.head('big.esdk')).toEqual({
        key: 'big.esdk',
        size: data.length,
        version: put.version,
      });
      expect((await readAll(await target.get('big.esdk'))).equals(data)).toBe(true);
      for (const [start, end] of [
        [0, 1],
        [8 * MiB - 10, 8 * MiB + 9], // across the first part boundary
        [16 * MiB - 1, 16 * MiB], // across the second
        [data.length - 100, data.length - 1],
        [5, data.length - 1],
      ] as const) {
        const got = await readAll(await target.get('big.esdk', { range: { start, end } }));
        expect(got.equals(data.subarray(start, end + 1)), `${start}-${end}`).toBe(true);
      }
      // s3rver reads `bytes=0-0` as "from 0" and sends everything: refused, not passed on.
      await expect(target.get('big.esdk', { range: { start: 0, end: 0 } })).rejects.toMatchObject({
        kind: 'transient',
        code: 'InvalidRangeResponse',
      });
    } finally {
      vi.restoreAllMocks();
      await emptyPrefix(client, handle.bucket, target.prefix);
    }
  });

  it('rejects a body shorter than its announced length, leaving no object', async () => {
    const target = new S3StorageTarget(client, {
      bucket: handle.bucket,
      prefix: `short/${randomUUID()}`,
      checksumMode: 'when-required',
    });
    const put = target.put('a.esdk', streamOf(randomBytes(1000)), { contentLength: 1001 });
    await expect(put).rejects.toMatchObject({ code: 'IncompleteBody' });
    expect(await target.head('a.esdk')).toBeUndefined();
  });

  it('isolates tenants by prefix, even look-alike ones', async () => {
    const root = `tenants-${randomUUID()}`;
    const tenant = (prefix: string) =>
      new S3StorageTarget(client, { bucket: handle.bucket, prefix, checksumMode: 'when-required' });
    const a = tenant(`/${root}/acme`); // normalised to `<root>/acme/`
    const b = tenant(`${root}/acme-corp/`);
    expect(a.prefix).toBe(`${root}/acme/`);
    expect(a.locationOf('year=2026/a.esdk')).toBe(`s3://${handle.bucket}/${root}/acme/year=2026/a.esdk`);
    try {
      await a.put('year=2026/a.esdk', streamOf(Buffer.from('acme')));
      await b.put('year=2026/b.esdk', streamOf(Buffer.from('acme-corp')));
      await b.put('x.esdk', streamOf(Buffer.from('acme-corp')));
      expect(await keysOf(a)).toEqual(['year=2026/a.esdk']);
      expect(await keysOf(a, 'year=2026/')).toEqual(['year=2026/a.esdk']);
      expect(await keysOf(b)).toEqual(['x.esdk', 'year=2026/b.esdk']);
      expect(await a.head('x.esdk')).toBeUndefined();
      await expect(a.get('year=2026/b.esdk')).rejects.toBeInstanceOf(ObjectNotFoundError);
      expect((await readAll(await b.get('year=2026/b.esdk'))).toString()).toBe('acme-corp');
    } finally {
      await emptyPrefix(client, handle.bucket, `${root}/`);
    }
  });
});

describe('S3StorageTarget.list pagination', () => {
  // s3rver cannot paginate on Node 20 (its continuation tokens use DES), so a stub client
  // stands in: two pages, the second behind a continuation token.
  it('follows continuation tokens and strips the tenant prefix', async () => {
    const requests: Record<string, unknown>[] = [];
    const pages = [
      {
        Contents: [
          { Key: 'tenants/acme/k/1.esdk', Size: 1 },
          { Key: 'tenants/acme/k/', Size: 0 }, // a console "folder": not an object of ours
        ],
        IsTruncated: true,
        NextContinuationToken: 'next-page',
      },
      { Contents: [{ Key: 'tenants/acme/k/2.esdk', Size: 2 }], IsTruncated: false },
    ];
    const client = {
      send: async (command: { input: Record<string, unknown> }) => {
        requests.push(command.input);
        return pages[requests.length - 1];
      },
    } as unknown as S3Client;
    const target = new S3StorageTarget(client, { bucket: 'b', prefix: 'tenants/acme' });
    const items: unknown[] = [];
    for await (const info of target.list('k/')) items.push(info);
    expect(items).toEqual([
      { key: 'k/1.esdk', size: 1 },
      { key: 'k/2.esdk', size: 2 },
    ]);
    expect(requests).toEqual([
      { Bucket: 'b', Prefix: 'tenants/acme/k/' },
      { Bucket: 'b', Prefix: 'tenants/acme/k/', ContinuationToken: 'next-page' },
    ]);
  });
});

describe('S3StorageFactory', () => {
  it('builds a target from the configuration through clientFor', async () => {
    const handle = await s3rver();
    const seen: unknown[] = [];
    const factory = new S3StorageFactory((config) => {
      seen.push(s3ClientConfig(config));
      return handle.client();
    });
    const config = {
      bucket: handle.bucket,
      region: 'us-east-1',
      prefix: `factory/${randomUUID()}`,
      endpoint: handle.endpoint,
      forcePathStyle: true,
      checksumMode: 'when-required' as const,
    };
    const target = await factory.create('acme', config);
    expect(target.provider).toBe('s3');
    await target.put('a.esdk', streamOf(Buffer.from('hello')));
    expect((await readAll(await (await factory.open('acme', config)).get('a.esdk'))).toString()).toBe(
      'hello',
    );
    await target.delete('a.esdk');
    expect(seen[0]).toEqual({
      region: 'us-east-1',
      endpoint: handle.endpoint,
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    expect(s3ClientConfig({ bucket: 'b', region: 'eu-west-1' })).toEqual({ region: 'eu-west-1' });
  });
});
