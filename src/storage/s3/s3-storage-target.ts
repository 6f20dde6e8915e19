import { Readable, addAbortSignal } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectLegalHoldCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ObjectNotFoundError, StorageError } from '../../errors.js';
import { assertObjectKey, assertObjectKeyPrefix, isUsableKey, normalisePrefix } from '../object-key.js';
import type { ByteRange, ObjectInfo, PutOptions, Splice, StorageTarget } from '../storage-target.js';
import { S3Crc32 } from './checksum.js';
import { isObjectMissing, mapS3Error } from './s3-errors.js';
import { COPY_PART_SIZE, FIRST_PART_BODY, putSpliced, type SpliceState } from './s3-splice.js';

/**
 * How request checksums are handled.
 * - `default`: every upload carries a CRC32 checksum that S3 verifies (the SDK's own default).
 * - `when-required`: only where an operation demands one. For S3-compatible stores that
 *   store the aws-chunked framing of a checksummed stream as content (s3rver, some
 *   appliances). The client must be built to match: see `s3ClientConfig`.
 */
export type S3ChecksumMode = 'default' | 'when-required';

export interface S3StorageTargetOptions {
  bucket: string;
  /** Key prefix of the tenant's objects; `a/b`, `/a/b` and `a/b/` all mean `a/b/`. */
  prefix?: string;
  /** @defaultValue `'default'` */
  checksumMode?: S3ChecksumMode;
  /**
   * S3 Object Lock (WORM): puts carry a retention in this mode, and legal holds are set on
   * the store. The bucket must have Object Lock enabled. Unset: nothing of it is sent.
   */
  objectLock?: { mode: S3ObjectLockMode };
  /**
   * Who this target reaches the store as (endpoint, region, principal). Targets of the
   * same scope can copy between each other server-side (`putSpliced`); unset: never.
   */
  copyScope?: string;
  /** Bytes per server-side copy part (at least S3's 5 MiB minimum). @defaultValue `COPY_PART_SIZE` (64 MiB) */
  copyPartSize?: number;
}

export type S3ObjectLockMode = 'GOVERNANCE' | 'COMPLIANCE';

/** Part size and parallelism of uploads: at most about (queueSize + 1) × partSize buffered. */
export const PART_SIZE = 8 * 1024 * 1024;
export const QUEUE_SIZE = 2;

/**
 * A tenant's objects under `prefix` in an S3 bucket (the tenant's own), reached through
 * the given client (whose credentials, e.g. from STS AssumeRole, are the caller's business).
 *
 * S3 puts are atomic: a single PutObject, or a multipart upload, becomes visible only when
 * it completes, and a failed or aborted upload leaves no object (and keeps any earlier
 * one). A failed multipart upload is aborted by lib-storage so its parts are discarded.
 */
export class S3StorageTarget implements StorageTarget {
  readonly provider = 's3';
  readonly bucket: string;
  /** Normalised: empty, or no leading `/` and a trailing `/`. */
  readonly prefix: string;
  readonly checksumMode: S3ChecksumMode;
  readonly objectLock: { mode: S3ObjectLockMode } | undefined;
  /** Only with Object Lock: callers skip legal holds on targets without it. */
  readonly setLegalHold?: (key: string, on: boolean) => Promise<void>;
  readonly checkWorm?: () => Promise<void>;
  readonly copyScope: string | undefined;
  /** Only with a copy scope: server-side splices from targets of the same scope. */
  readonly putSpliced?: (
    key: string,
    splice: Splice,
    options?: PutOptions,
  ) => Promise<ObjectInfo | undefined>;

  constructor(
    readonly client: S3Client,
    options: S3StorageTargetOptions,
  ) {
    if (!options.bucket) throw new Error('S3 bucket name is required');
    this.bucket = options.bucket;
    this.prefix = normalisePrefix(options.prefix ?? '');
    this.checksumMode = options.checksumMode ?? 'default';
    this.objectLock = options.objectLock;
    if (this.objectLock) {
      this.setLegalHold = (key, on) => this.#setLegalHold(key, on);
      this.checkWorm = () => this.#checkObjectLock();
    }
    this.copyScope = options.copyScope;
    if (this.copyScope !== undefined) {
      const state: SpliceState = { unsupported: false, partSize: options.copyPartSize ?? COPY_PART_SIZE };
      if (!Number.isSafeInteger(state.partSize) || state.partSize < FIRST_PART_BODY) {
        throw new RangeError('copyPartSize must be at least 5 MiB');
      }
      this.putSpliced = (key, splice, opts) => putSpliced(this, state, key, splice, opts);
    }
  }

  /** The object's key in the bucket: the tenant prefix and `key`, checked. */
  objectKeyOf(key: string): string {
    return this.prefix + assertObjectKey(key);
  }

  locationOf(key: string): string {
    return `s3://${this.bucket}/${this.objectKeyOf(key)}`;
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<ObjectInfo> {
    const Key = this.objectKeyOf(key);
    const { signal, contentLength, contentType, metadata } = options;
    signal?.throwIfAborted();
    const lock = this.lockParams(options);
    // An abort destroys the body; lib-storage then fails the upload and aborts any multipart
    // upload before `done()` settles, so no part is left behind and nothing is committed.
    // (An abort arriving after the last byte was handed over races the commit, as anywhere.)
    const source = signal ? addAbortSignal(signal, body) : body;
    const counter = { size: 0, bodyError: undefined as unknown };
    const checksum = this.checksumMode === 'default' ? new S3Crc32(PART_SIZE) : undefined;
    const upload = new Upload({
      client: this.client,
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
      params: {
        Bucket: this.bucket,
        Key,
        Body: Readable.from(countBytes(source, counter, contentLength, checksum), { objectMode: false }),
        ...(contentLength !== undefined ? { ContentLength: contentLength } : {}),
        ...(contentType !== undefined ? { ContentType: contentType } : {}),
        ...(metadata !== undefined ? { Metadata: metadata } : {}),
        ...(this.checksumMode === 'default' ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
        // lib-storage passes these on to PutObject and CreateMultipartUpload alike.
        ...lock,
      },
    });
    try {
      const result = await upload.done();
      const info: ObjectInfo = { key, size: counter.size, version: versionOf(result.VersionId, result.ETag) };
      if (checksum) {
        // S3 verified each request's checksum on arrival; this checks the whole object it
        // assembled is the bytes we streamed (right parts, right order).
        const expected = checksum.digest();
        const reported = (result as { ChecksumCRC32?: string }).ChecksumCRC32;
        if (reported !== undefined && reported !== expected) {
          throw new StorageError(
            'transient',
            'ChecksumMismatch',
            `put: the store reports CRC32 ${reported}, ${expected} was written`,
          );
        }
        info.checksum = `crc32:${expected}`;
      }
      return info;
    } catch (err) {
      source.destroy();
      // Errors of the caller's body (and aborts) pass through as they are.
      if (counter.bodyError !== undefined) throw counter.bodyError;
      throw mapS3Error(err, 'put');
    }
  }

  async head(key: string, options: { signal?: AbortSignal } = {}): Promise<ObjectInfo | undefined> {
    const Key = this.objectKeyOf(key);
    options.signal?.throwIfAborted();
    try {
      const out = await this.client.send(
        new HeadObjectCommand({
          Bucket: this.bucket,
          Key,
          ...(this.checksumMode === 'default' ? { ChecksumMode: 'ENABLED' as const } : {}),
        }),
        sendOptions(options.signal),
      );
      const info: ObjectInfo = {
        key,
        size: out.ContentLength ?? 0,
        version: versionOf(out.VersionId, out.ETag),
      };
      if (out.ChecksumCRC32) info.checksum = `crc32:${out.ChecksumCRC32}`;
      return info;
    } catch (err) {
      // HEAD responses carry no body: a missing bucket is a 404 like a missing key.
      if (isObjectMissing(err)) return undefined;
      throw mapS3Error(err, 'head');
    }
  }

  async get(key: string, options: { range?: ByteRange; signal?: AbortSignal } = {}): Promise<Readable> {
    const Key = this.objectKeyOf(key);
    const { range, signal } = options;
    if (range) checkRange(range);
    signal?.throwIfAborted();
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key,
          // Absolute ranges only: some S3-compatible stores mishandle suffix ranges.
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
        sendOptions(signal),
      );
      const stream = out.Body instanceof Readable ? out.Body : emptyOr(out.Body);
      if (range && !rangeMatches(out.ContentRange, range)) {
        // Some S3-compatible stores ignore parts of a range (s3rver answers `bytes=0-0` with
        // the whole object): wrong bytes must not reach the decrypter as if they were right.
        stream.destroy();
        throw new StorageError('transient', 'InvalidRangeResponse', 'get: the store ignored the byte range');
      }
      return signal ? addAbortSignal(signal, stream) : stream;
    } catch (err) {
      if (isObjectMissing(err)) throw new ObjectNotFoundError(key);
      if ((err as Error).name === 'InvalidRange' && range) {
        throw new RangeError(`byte range ${range.start}-${range.end} starts beyond the object`);
      }
      throw mapS3Error(err, 'get');
    }
  }

  async delete(key: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const Key = this.objectKeyOf(key);
    options.signal?.throwIfAborted();
    try {
      // S3 answers 204 for a missing key too, so this is idempotent as it stands.
      await this.client.send(
        new DeleteObjectCommand({ Bucket: this.bucket, Key }),
        sendOptions(options.signal),
      );
    } catch (err) {
      if (isObjectMissing(err)) return;
      throw mapS3Error(err, 'delete');
    }
  }

  async *list(prefix = '', options: { signal?: AbortSignal } = {}): AsyncIterable<ObjectInfo> {
    assertObjectKeyPrefix(prefix);
    const { signal } = options;
    let ContinuationToken: string | undefined;
    do {
      signal?.throwIfAborted();
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            ...(ContinuationToken ? { ContinuationToken } : {}),
          }),
          sendOptions(signal),
        );
      } catch (err) {
        throw mapS3Error(err, 'list');
      }
      // S3 lists in UTF-8 byte order within and across pages.
      for (const item of page.Contents ?? []) {
        if (!item.Key?.startsWith(this.prefix)) continue;
        const key = item.Key.slice(this.prefix.length);
        // Skips what the service never writes: "folder" markers (`a/`) and the like.
        if (!isUsableKey(key)) continue;
        // No version: listings carry ETags but not version ids, and mixing the two would
        // make a version from `list` disagree with `put`/`head` on versioned buckets.
        yield { key, size: item.Size ?? 0 };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  /** Object Lock headers of a put: none without Object Lock, nor for a date already past. */
  lockParams(options: PutOptions) {
    if (!this.objectLock) return {};
    const { retainUntil, legalHold } = options;
    return {
      ...(retainUntil && retainUntil.getTime() > Date.now()
        ? { ObjectLockMode: this.objectLock.mode, ObjectLockRetainUntilDate: retainUntil }
        : {}),
      ...(legalHold ? { ObjectLockLegalHoldStatus: 'ON' as const } : {}),
    };
  }

  async #setLegalHold(key: string, on: boolean): Promise<void> {
    const Key = this.objectKeyOf(key);
    try {
      await this.client.send(
        new PutObjectLegalHoldCommand({ Bucket: this.bucket, Key, LegalHold: { Status: on ? 'ON' : 'OFF' } }),
      );
    } catch (err) {
      throw mapS3Error(err, 'legal-hold');
    }
  }

  /** The bucket must have Object Lock enabled, or retention and holds would be refused. */
  async #checkObjectLock(): Promise<void> {
    let enabled: string | undefined;
    try {
      const out = await this.client.send(new GetObjectLockConfigurationCommand({ Bucket: this.bucket }));
      enabled = out.ObjectLockConfiguration?.ObjectLockEnabled;
    } catch (err) {
      throw mapS3Error(err, 'object-lock');
    }
    if (enabled !== 'Enabled') {
      throw new StorageError(
        'access-denied',
        'ObjectLockConfigurationNotFoundError',
        'object-lock: Object Lock is not enabled on the bucket',
      );
    }
  }
}

function versionOf(versionId: string | undefined, etag: string | undefined): string | undefined {
  if (versionId && versionId !== 'null') return versionId;
  // ETags come quoted from some responses and not others; compare them unquoted.
  return etag ? etag.replace(/^"(.*)"$/, '$1') : undefined;
}

function sendOptions(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal ? { abortSignal: signal } : {};
}

function emptyOr(body: unknown): Readable {
  if (body === undefined) return Readable.from([]);
  throw new StorageError('transient', 'InternalError', 'get: unexpected response body type');
}

/** Counts (and checksums) the bytes passing through; records body errors so they pass through unwrapped. */
async function* countBytes(
  body: Readable,
  counter: { size: number; bodyError: unknown },
  expected: number | undefined,
  checksum: S3Crc32 | undefined,
): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of body) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
      if (buf.byteLength === 0) continue;
      counter.size += buf.byteLength;
      checksum?.update(buf);
      yield buf;
    }
  } catch (err) {
    counter.bodyError = err;
    throw err;
  }
  if (expected !== undefined && counter.size !== expected) {
    // Thrown before the last part is handed over, so the upload is never completed.
    const err = new StorageError(
      'transient',
      'IncompleteBody',
      `body was ${counter.size} bytes, expected ${expected}`,
    );
    counter.bodyError = err;
    throw err;
  }
}

/** `Content-Range: bytes a-b/total` must be the requested range, clipped to the object's end. */
function rangeMatches(contentRange: string | undefined, range: ByteRange): boolean {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange ?? '');
  if (!match) return false;
  const [start, end, total] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const expectedEnd = Number.isNaN(total) ? range.end : Math.min(range.end, total - 1);
  return start === range.start && end === expectedEnd;
}

function checkRange(range: ByteRange): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`invalid byte range ${start}-${end}`);
  }
}
