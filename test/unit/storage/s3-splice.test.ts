import { randomBytes, randomUUID } from 'node:crypto';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntegrityError } from '../../../src/errors.js';
import { FIRST_PART_BODY } from '../../../src/storage/s3/s3-splice.js';
import { S3StorageTarget } from '../../../src/storage/s3/s3-storage-target.js';
import { PartCopyProxy } from '../../support/part-copy-proxy.js';
import { type S3rverHandle, startS3rver } from '../../support/s3rver.js';
import { readAll, streamOf } from '../../support/streams.js';

const MiB = 1024 * 1024;

/**
 * The S3 target's server-side splice against s3rver: through the part-copy stand-in (which
 * adds UploadPartCopy and If-Match with real state) it copies; straight on s3rver (which
 * answers NotImplemented) it declines, once, so the caller streams.
 */
describe('S3 server-side splice (UploadPartCopy)', () => {
  let s3: S3rverHandle;
  let proxy: PartCopyProxy;
  const clients: S3Client[] = [];

  beforeAll(async () => {
    s3 = await startS3rver();
    proxy = await new PartCopyProxy(s3).start();
  });
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await proxy?.stop();
    await s3?.stop();
  });

  /** A target reached through `endpoint` (s3rver itself, or the proxy in front of it). */
  function targetAt(
    endpoint: string,
    o: { scope?: string; prefix?: string; partSize?: number; bucket?: string } = {},
  ) {
    const client = new S3Client({
      region: 'us-east-1',
      endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    clients.push(client);
    return new S3StorageTarget(client, {
      bucket: o.bucket ?? s3.bucket,
      prefix: o.prefix ?? `splice/${randomUUID()}`,
      checksumMode: 'when-required',
      copyScope: o.scope ?? 'scope-a',
      ...(o.partSize ? { copyPartSize: o.partSize } : {}),
    });
  }

  async function putSource(target: S3StorageTarget, size: number) {
    const bytes = randomBytes(size);
    await target.put('src.esdk', streamOf(bytes, 512 * 1024), { contentLength: size });
    return bytes;
  }

  it('copies all but the first part server-side: head + source[offset..] byte for byte', async () => {
    const target = targetAt(proxy.endpoint, { partSize: 5 * MiB });
    const source = await putSource(target, 17 * MiB + 321);
    const head = randomBytes(777);
    const offset = 500;
    proxy.copies.length = 0;
    const readBefore = proxy.bytesRead;

    const info = await target.putSpliced!(
      'new.esdk',
      { head, source: target, sourceKey: 'src.esdk', offset, sourceSize: source.length },
      { contentType: 'application/vnd.custody.esdk' },
    );

    const expected = Buffer.concat([head, source.subarray(offset)]);
    expect(info).toMatchObject({ key: 'new.esdk', size: expected.length });
    expect(info!.copiedRanges).toEqual([{ start: head.length + FIRST_PART_BODY, end: expected.length - 1 }]);
    // Only the first part's body crossed this process; the rest was copied in 5 MiB parts.
    expect(proxy.bytesRead - readBefore).toBe(FIRST_PART_BODY);
    const first = offset + FIRST_PART_BODY;
    // Copies run in parallel: compare in part order.
    const copies = [...proxy.copies].sort((a, b) => a.partNumber - b.partNumber);
    expect(copies.map((c) => [c.partNumber, c.range])).toEqual([
      [2, `bytes=${first}-${first + 5 * MiB - 1}`],
      [3, `bytes=${first + 5 * MiB}-${first + 10 * MiB - 1}`],
      [4, `bytes=${first + 10 * MiB}-${source.length - 1}`],
    ]);
    expect((await readAll(await target.get('new.esdk'))).equals(expected)).toBe(true);
    expect((await target.head('new.esdk'))?.size).toBe(expected.length);
  });

  it('copies across buckets and prefixes of the same scope', async () => {
    await s3.client().send(new CreateBucketCommand({ Bucket: 'splice-other' }));
    const from = targetAt(proxy.endpoint);
    const to = targetAt(proxy.endpoint, { bucket: 'splice-other' });
    const source = await putSource(from, 6 * MiB);
    const info = await to.putSpliced!('moved.esdk', {
      head: Buffer.alloc(0),
      source: from,
      sourceKey: 'src.esdk',
      offset: 0,
      sourceSize: source.length,
    });
    expect(info?.size).toBe(source.length);
    expect((await readAll(await to.get('moved.esdk'))).equals(source)).toBe(true);
  });

  it('declines (the caller streams) for another scope, or when nothing would be copied', async () => {
    const from = targetAt(proxy.endpoint, { scope: 'scope-a' });
    const source = await putSource(from, FIRST_PART_BODY + 1000);
    const other = targetAt(proxy.endpoint, { scope: 'scope-b' });
    const before = proxy.requests.length;
    const splice = {
      head: Buffer.alloc(0),
      source: from,
      sourceKey: 'src.esdk',
      offset: 0,
      sourceSize: source.length,
    };
    expect(await other.putSpliced!('x.esdk', splice)).toBeUndefined();
    // The whole body fits in the first part: a copy would save nothing.
    expect(await from.putSpliced!('x.esdk', { ...splice, offset: 1000 })).toBeUndefined();
    expect(proxy.requests.length, 'no request at all').toBe(before);
    // A target without a copy scope has no splice.
    expect(new S3StorageTarget(s3.client(), { bucket: s3.bucket }).putSpliced).toBeUndefined();
  });

  it('on a store without UploadPartCopy: declines, leaves no object, and stops trying', async () => {
    const target = targetAt(s3.endpoint);
    const source = await putSource(target, 11 * MiB);
    const splice = {
      head: randomBytes(10),
      source: target,
      sourceKey: 'src.esdk',
      offset: 0,
      sourceSize: source.length,
    };
    expect(await target.putSpliced!('new.esdk', splice)).toBeUndefined();
    expect(await target.head('new.esdk')).toBeUndefined();
    // Remembered: the second call sends nothing (no HEAD of the source, no upload).
    const sent: string[] = [];
    target.client.middlewareStack.add(
      (next, context) => (args) => {
        sent.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize', name: 'recordSpliceCalls' },
    );
    expect(await target.putSpliced!('new.esdk', splice)).toBeUndefined();
    expect(sent).toEqual([]);
  });

  it('refuses a source that is not the recorded size, and one replaced during the copy', async () => {
    const target = targetAt(proxy.endpoint);
    const source = await putSource(target, 11 * MiB);
    const splice = {
      head: Buffer.alloc(0),
      source: target,
      sourceKey: 'src.esdk',
      offset: 0,
      sourceSize: source.length,
    };
    await expect(
      target.putSpliced!('new.esdk', { ...splice, sourceSize: source.length + 1 }),
    ).rejects.toBeInstanceOf(IntegrityError);
    // The source's ETag no longer matches when the copy runs: S3 answers 412.
    const faulty = new PartCopyProxy(s3);
    await faulty.start();
    try {
      const via = targetAt(faulty.endpoint, { prefix: target.prefix });
      faulty.failNext('PUT', 'PreconditionFailed', 412);
      await expect(via.putSpliced!('new.esdk', splice)).rejects.toMatchObject({ code: 'PreconditionFailed' });
      expect(await via.head('new.esdk')).toBeUndefined();
    } finally {
      await faulty.stop();
    }
  });
});
