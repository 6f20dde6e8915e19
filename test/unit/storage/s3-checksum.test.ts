import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { answeredS3Client } from '../../support/answered-s3.js';
import { describe, expect, it } from 'vitest';
import { S3Crc32 } from '../../../src/storage/s3/checksum.js';
import { PART_SIZE, S3StorageTarget } from '../../../src/storage/s3/s3-storage-target.js';
import { streamOf } from '../../support/streams.js';

const b64 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b.toString('base64');
};

/** S3's composite checksum, computed the way AWS documents it, from whole parts. */
function composite(data: Buffer, partSize: number): string {
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; at += partSize) {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(crc32(data.subarray(at, at + partSize)));
    parts.push(b);
  }
  return `${b64(crc32(Buffer.concat(parts)))}-${parts.length}`;
}

describe('S3Crc32', () => {
  it('matches the CRC32 check value for a single PUT', () => {
    const c = new S3Crc32(16);
    c.update(Buffer.from('123456789'));
    expect(c.digest()).toBe(b64(0xcbf43926));
  });

  it('computes the composite multipart checksum whatever the chunking', () => {
    const data = randomBytes(10_000);
    for (const chunk of [1, 7, 100, 999, 4096, 10_000]) {
      const c = new S3Crc32(1024);
      for (let at = 0; at < data.length; at += chunk) c.update(data.subarray(at, at + chunk));
      expect(c.digest()).toBe(composite(data, 1024));
    }
  });

  it('treats exactly one part as a single PUT and one byte more as two parts', () => {
    const one = new S3Crc32(8);
    one.update(Buffer.alloc(8, 1));
    expect(one.digest()).toBe(b64(crc32(Buffer.alloc(8, 1))));
    const two = new S3Crc32(8);
    two.update(Buffer.alloc(9, 1));
    expect(two.digest()).toBe(composite(Buffer.alloc(9, 1), 8));
  });
});

/**
 * A stand-in S3 that keeps objects and computes CRC32 checksums as S3 does (whole object
 * for PutObject, composite for multipart), optionally corrupting what it stores.
 */
function checksummingS3(o: { corrupt?: boolean } = {}) {
  const objects = new Map<string, { body: Buffer; checksum: string }>();
  const uploads = new Map<string, Buffer[]>();
  const read = async (body: unknown) => {
    if (Buffer.isBuffer(body) || body instanceof Uint8Array) return Buffer.from(body);
    const chunks: Buffer[] = [];
    for await (const c of body as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
    return Buffer.concat(chunks);
  };
  const stored = (body: Buffer) => (o.corrupt ? Buffer.concat([body.subarray(1), Buffer.from([0])]) : body);
  const fake = async (name: string, input: Record<string, any>): Promise<unknown> => {
    switch (name) {
      case 'PutObjectCommand': {
        const body = stored(await read(input.Body));
        const checksum = b64(crc32(body));
        objects.set(input.Key, { body, checksum });
        return { ETag: '"e"', ChecksumCRC32: checksum };
      }
      case 'CreateMultipartUploadCommand':
        uploads.set('u1', []);
        return { UploadId: 'u1' };
      case 'UploadPartCommand': {
        uploads.get(input.UploadId)![input.PartNumber - 1] = stored(await read(input.Body));
        return { ETag: `"p${input.PartNumber}"` };
      }
      case 'CompleteMultipartUploadCommand': {
        const parts = uploads.get(input.UploadId)!;
        const body = Buffer.concat(parts);
        const checksum = composite(body, parts[0]!.length);
        objects.set(input.Key, { body, checksum });
        return { ETag: '"m"', ChecksumCRC32: checksum };
      }
      case 'HeadObjectCommand': {
        const obj = objects.get(input.Key)!;
        return {
          ContentLength: obj.body.length,
          ...(input.ChecksumMode === 'ENABLED' ? { ChecksumCRC32: obj.checksum } : {}),
        };
      }
      case 'AbortMultipartUploadCommand':
        return {};
      default:
        throw new Error(`unexpected ${name}`);
    }
  };
  const client = answeredS3Client(fake);
  return { client, objects };
}

describe('S3StorageTarget checksum verification (checksumMode default)', () => {
  for (const size of [1000, PART_SIZE + 12_345]) {
    it(`reports the written checksum, equal to the store's on head (${size} bytes)`, async () => {
      const { client } = checksummingS3();
      const target = new S3StorageTarget(client, { bucket: 'b', prefix: 'p' });
      const data = randomBytes(size);
      const put = await target.put('k.esdk', streamOf(data), { contentLength: size });
      const expected = size > PART_SIZE ? composite(data, PART_SIZE) : b64(crc32(data));
      expect(put.checksum).toBe(`crc32:${expected}`);
      expect((await target.head('k.esdk'))?.checksum).toBe(put.checksum);
    });

    it(`refuses an upload the store assembled differently (${size} bytes)`, async () => {
      const { client } = checksummingS3({ corrupt: true });
      const target = new S3StorageTarget(client, { bucket: 'b', prefix: 'p' });
      const data = randomBytes(size);
      await expect(target.put('k.esdk', streamOf(data), { contentLength: size })).rejects.toMatchObject({
        name: 'StorageError',
        code: 'ChecksumMismatch',
      });
    });
  }
});
