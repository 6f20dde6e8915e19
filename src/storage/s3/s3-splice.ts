import { crc32 } from 'node:zlib';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  type CompletedPart,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { mapLimited } from '../../util/map-limited.js';
import { pinnedEtag } from '../splice-source.js';
import { ObjectNotFoundError, StorageError } from '../../errors.js';
import type { ByteRange, ObjectInfo, PutOptions, Splice } from '../storage-target.js';
import { httpStatusOf, isObjectMissing, mapS3Error } from './s3-errors.js';
import type { S3StorageTarget } from './s3-storage-target.js';

/**
 * Server-side splice on S3: a multipart upload whose first part is uploaded from here
 * (the new head plus the first `FIRST_PART_BODY` bytes of the kept body, read from the
 * source, since every part but the last must be at least 5 MiB) and whose other parts
 * are `UploadPartCopy` ranges of the source object: the bulk of a rewrapped or moved
 * recording never passes through this process.
 *
 * The source is pinned: its ETag is read first and every read and copy is conditional
 * on it (`If-Match`, `x-amz-copy-source-if-match`), so a source replaced meanwhile fails
 * the splice instead of mixing two objects. Nothing is visible before
 * CompleteMultipartUpload; any failure aborts the upload.
 *
 * Only between targets of the same copy scope (endpoint, region and principal): the
 * destination's credentials read the source. A store without UploadPartCopy (s3rver
 * answers NotImplemented) or a principal refused it (AccessDenied) makes the target
 * remember, and every later splice resolves `undefined` at once: the caller streams.
 */

const MiB = 1024 * 1024;
/** S3's minimum part size: the uploaded first part carries this much of the body. */
export const FIRST_PART_BODY = 5 * MiB;
/** Copy parts; raised when an object would need more than S3's 10,000 parts. */
export const COPY_PART_SIZE = 64 * MiB;
const MAX_PARTS = 10_000;
/** Copy parts in flight at once (each is a server-side request, not memory). */
const COPY_CONCURRENCY = 4;

/** Error names of a store or principal that cannot copy: fall back to streaming. */
const CANNOT_COPY = new Set(['NotImplemented', 'AccessDenied', 'XNotImplemented']);

/** Per target: whether server-side copy is known not to work there, and its copy part size. */
export interface SpliceState {
  unsupported: boolean;
  partSize: number;
}

export async function putSpliced(
  dest: S3StorageTarget,
  state: SpliceState,
  key: string,
  splice: Splice,
  options: PutOptions = {},
): Promise<ObjectInfo | undefined> {
  const { source, head, offset, sourceSize } = splice;
  if (state.unsupported || !isSameScope(dest, source)) return undefined;
  const bodyLength = sourceSize - offset;
  if (offset < 0 || bodyLength <= FIRST_PART_BODY) return undefined;
  options.signal?.throwIfAborted();

  const from = { Bucket: source.bucket, Key: source.objectKeyOf(splice.sourceKey) };
  const etag = await pinSource(source, from, sourceSize);
  const withChecksum = dest.checksumMode === 'default';
  const Key = dest.objectKeyOf(key);
  const send = { ...(options.signal ? { abortSignal: options.signal } : {}) };
  const created = await dest.client
    .send(
      new CreateMultipartUploadCommand({
        Bucket: dest.bucket,
        Key,
        ...(options.contentType !== undefined ? { ContentType: options.contentType } : {}),
        ...(options.metadata !== undefined ? { Metadata: options.metadata } : {}),
        ...(withChecksum ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
        ...dest.lockParams(options),
      }),
      send,
    )
    .catch((err: unknown) => {
      throw mapS3Error(err, 'put');
    });
  const UploadId = created.UploadId!;
  const mpu = { Bucket: dest.bucket, Key, UploadId };

  const copyStart = offset + FIRST_PART_BODY;
  const partSize = Math.max(state.partSize, Math.ceil((sourceSize - copyStart) / (MAX_PARTS - 1)));
  const ranges: ByteRange[] = [];
  for (let start = copyStart; start < sourceSize; start += partSize) {
    ranges.push({ start, end: Math.min(start + partSize, sourceSize) - 1 });
  }
  const copySource = `${encodeKey(from.Bucket)}/${encodeKey(from.Key)}`;
  const copyPart = async (range: ByteRange, index: number): Promise<CompletedPart> => {
    const PartNumber = index + 2;
    const out = await dest.client.send(
      new UploadPartCopyCommand({
        ...mpu,
        PartNumber,
        CopySource: copySource,
        CopySourceRange: `bytes=${range.start}-${range.end}`,
        CopySourceIfMatch: etag,
      }),
      send,
    );
    const result = out.CopyPartResult;
    if (!result?.ETag) {
      throw new StorageError(
        'transient',
        'InvalidCopyResponse',
        'put: the store did not confirm a copied part',
      );
    }
    return {
      PartNumber,
      ETag: result.ETag,
      ...(result.ChecksumCRC32 ? { ChecksumCRC32: result.ChecksumCRC32 } : {}),
    };
  };

  try {
    // The first copy alone: a store that cannot copy says so before 5 MiB are uploaded.
    const second = await copyPart(ranges[0]!, 0);
    // Both sides run to the end before anything is decided, so an abort below never races
    // a part still being written.
    const [first, copies] = await settleBoth(
      uploadFirstPart(dest, source, mpu, from, etag, splice, withChecksum, send),
      mapLimited(ranges.slice(1), COPY_CONCURRENCY, (range, i) => copyPart(range, i + 1)),
    );
    const parts: CompletedPart[] = [first.part, second, ...copies];
    const done = await dest.client.send(
      new CompleteMultipartUploadCommand({ ...mpu, MultipartUpload: { Parts: parts } }),
      send,
    );
    const size = head.length + bodyLength;
    const info: ObjectInfo = {
      key,
      size,
      copiedRanges: [{ start: head.length + FIRST_PART_BODY, end: size - 1 }],
    };
    const version =
      done.VersionId && done.VersionId !== 'null' ? done.VersionId : done.ETag?.replace(/"/g, '');
    if (version) info.version = version;
    const expected = withChecksum ? compositeOf(first.crc, parts) : undefined;
    if (expected !== undefined) {
      if (done.ChecksumCRC32 !== undefined && done.ChecksumCRC32 !== expected) {
        throw new StorageError(
          'transient',
          'ChecksumMismatch',
          'put: the assembled object has another CRC32',
        );
      }
      info.checksum = `crc32:${expected}`;
    }
    return info;
  } catch (err) {
    await dest.client.send(new AbortMultipartUploadCommand(mpu)).catch(() => {});
    if (isCannotCopy(err)) {
      state.unsupported = true;
      return undefined;
    }
    if (httpStatusOf(err) === 412) {
      throw new StorageError(
        'transient',
        'PreconditionFailed',
        'put: the source object changed while copied',
        {
          cause: err,
        },
      );
    }
    throw mapS3Error(err, 'put');
  }
}

function isSameScope(dest: S3StorageTarget, source: Splice['source']): source is S3StorageTarget {
  const other = source as Partial<S3StorageTarget>;
  return (
    source.provider === 's3' &&
    dest.copyScope !== undefined &&
    other.copyScope === dest.copyScope &&
    typeof other.objectKeyOf === 'function'
  );
}

function isCannotCopy(err: unknown): boolean {
  return err instanceof Error && (CANNOT_COPY.has(err.name) || httpStatusOf(err) === 501);
}

/** The source's ETag, after checking it is the recorded size. */
async function pinSource(
  source: S3StorageTarget,
  from: { Bucket: string; Key: string },
  sourceSize: number,
): Promise<string> {
  let out: HeadObjectCommandOutput;
  try {
    out = await source.client.send(new HeadObjectCommand(from));
  } catch (err) {
    if (isObjectMissing(err)) throw new ObjectNotFoundError(from.Key);
    throw mapS3Error(err, 'head');
  }
  return pinnedEtag('object', { size: out.ContentLength, etag: out.ETag }, sourceSize);
}

/** Part 1: the new head and the first bytes of the kept body, read (pinned) from the source. */
async function uploadFirstPart(
  dest: S3StorageTarget,
  source: S3StorageTarget,
  mpu: { Bucket: string; Key: string; UploadId: string },
  from: { Bucket: string; Key: string },
  etag: string,
  splice: Splice,
  withChecksum: boolean,
  send: { abortSignal?: AbortSignal },
): Promise<{ part: CompletedPart; crc: number }> {
  const range = `bytes=${splice.offset}-${splice.offset + FIRST_PART_BODY - 1}`;
  const got = await source.client.send(new GetObjectCommand({ ...from, Range: range, IfMatch: etag }), send);
  const kept = Buffer.from(await got.Body!.transformToByteArray());
  if (kept.length !== FIRST_PART_BODY) {
    throw new StorageError('transient', 'InvalidRangeResponse', 'get: the store ignored the byte range');
  }
  const Body = Buffer.concat([splice.head, kept]);
  const crc = crc32(Body);
  const out = await dest.client.send(
    new UploadPartCommand({
      ...mpu,
      PartNumber: 1,
      Body,
      ContentLength: Body.length,
      ...(withChecksum ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
    }),
    send,
  );
  if (withChecksum && out.ChecksumCRC32 !== undefined && out.ChecksumCRC32 !== be32(crc).toString('base64')) {
    throw new StorageError(
      'transient',
      'ChecksumMismatch',
      'put: the store reports another CRC32 for part 1',
    );
  }
  return {
    part: {
      PartNumber: 1,
      ETag: out.ETag!,
      ...(out.ChecksumCRC32 ? { ChecksumCRC32: out.ChecksumCRC32 } : {}),
    },
    crc,
  };
}

/**
 * The composite CRC32 S3 reports for the whole upload: our own CRC of part 1 and the
 * store's for the copied parts (it computed them; we never saw those bytes). `undefined`
 * when a copied part came back without one.
 */
function compositeOf(firstCrc: number, parts: CompletedPart[]): string | undefined {
  const crcs: Buffer[] = [be32(firstCrc)];
  for (const part of parts.slice(1)) {
    if (!part.ChecksumCRC32) return undefined;
    crcs.push(Buffer.from(part.ChecksumCRC32, 'base64'));
  }
  return `${be32(crc32(Buffer.concat(crcs))).toString('base64')}-${parts.length}`;
}

function be32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** `x-amz-copy-source` is URL-encoded, its slashes kept. */
function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/** Waits for both; rejects with the first failure only once neither is still running. */
async function settleBoth<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'rejected') throw ra.reason;
  if (rb.status === 'rejected') throw rb.reason;
  return [ra.value, rb.value];
}
