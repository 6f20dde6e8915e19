import { Readable, addAbortSignal } from 'node:stream';
import type { BlobImmutabilityPolicy, BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { ObjectNotFoundError, StorageError } from '../../errors.js';
import { assertObjectKey, assertObjectKeyPrefix, isUsableKey, normalisePrefix } from '../object-key.js';
import type { ByteRange, ObjectInfo, PutOptions, Splice, StorageTarget } from '../storage-target.js';
import { azureCodeOf, isBlobMissing, mapAzureError } from './azure-errors.js';
import { type AzureSpliceState, COPY_BLOCK_SIZE, putSpliced } from './azure-splice.js';
import { blockIdsFor, md5Of, newTally, readBlocks } from './blocks.js';

/** Block size and parallelism of uploads: at most about (in flight + 1) × block size buffered. */
export const BLOCK_SIZE = 8 * 1024 * 1024;
export const MAX_BLOCKS_IN_FLIGHT = 2;

export interface AzureBlobStorageTargetOptions {
  /** Name prefix of the tenant's blobs; `a/b`, `/a/b` and `a/b/` all mean `a/b/`. */
  prefix?: string;
  /** @defaultValue {@link BLOCK_SIZE} */
  blockSize?: number;
  /** @defaultValue {@link MAX_BLOCKS_IN_FLIGHT} */
  maxBlocksInFlight?: number;
  /**
   * Version-level immutability (WORM): puts carry an immutability policy in this mode, and
   * legal holds are set on the store. The container must support it. Unset: nothing of it is sent.
   */
  immutability?: { mode: AzureImmutabilityMode };
  /**
   * Server-side copy (`putSpliced`) between targets of the same scope, the same service
   * principal: its name, and how to get the bearer token with which the service reads the
   * source. Unset: never.
   */
  copy?: { scope: string; sourceToken: () => Promise<string>; blockSize?: number };
}

export type AzureImmutabilityMode = 'Unlocked' | 'Locked';

type Signal = { signal?: AbortSignal };

/**
 * A tenant's blobs under `prefix` in a container of the tenant's own storage account,
 * reached through the given client (whose credential is the caller's business).
 *
 * Puts are atomic: a body of up to one block is one Put Blob; a longer one is staged as
 * blocks (Put Block), which stay invisible until Put Block List commits them, so a failed
 * upload never shows and an earlier blob stays as it was. Azure discards uncommitted blocks
 * after a week (or at the next commit of that blob); there is nothing to abort.
 * Every request carries the MD5 of its body, which the service verifies on arrival.
 */
export class AzureBlobStorageTarget implements StorageTarget {
  readonly provider = 'azure-blob';
  /** Normalised: empty, or no leading `/` and a trailing `/`. */
  readonly prefix: string;
  readonly #blockSize: number;
  readonly #maxInFlight: number;
  readonly immutability: { mode: AzureImmutabilityMode } | undefined;
  /** Only with immutability: callers skip legal holds on targets without it. */
  readonly setLegalHold?: (key: string, on: boolean) => Promise<void>;
  readonly checkWorm?: () => Promise<void>;
  readonly copyScope: string | undefined;
  /** Only with `copy`: server-side splices from targets of the same scope. */
  readonly putSpliced?: (
    key: string,
    splice: Splice,
    options?: PutOptions,
  ) => Promise<ObjectInfo | undefined>;

  constructor(
    readonly container: ContainerClient,
    options: AzureBlobStorageTargetOptions = {},
  ) {
    this.prefix = normalisePrefix(options.prefix ?? '');
    this.#blockSize = options.blockSize ?? BLOCK_SIZE;
    this.#maxInFlight = Math.max(1, options.maxBlocksInFlight ?? MAX_BLOCKS_IN_FLIGHT);
    this.immutability = options.immutability;
    if (this.immutability) {
      this.setLegalHold = (key, on) => this.#setLegalHold(key, on);
      this.checkWorm = () => this.#checkImmutability();
    }
    this.copyScope = options.copy?.scope;
    if (options.copy) {
      const state: AzureSpliceState = {
        unsupported: false,
        blockSize: options.copy.blockSize ?? COPY_BLOCK_SIZE,
        sourceToken: options.copy.sourceToken,
      };
      this.putSpliced = (key, splice, opts) => putSpliced(this, state, key, splice, opts);
    }
  }

  /** The blob's name in the container: the tenant prefix and `key`, checked. */
  objectKeyOf(key: string): string {
    return this.prefix + assertObjectKey(key);
  }

  /** Metadata as Azure stores it (see `azureMetadata`). */
  metadataOf(metadata: Record<string, string>): Record<string, string> {
    return azureMetadata(metadata);
  }

  locationOf(key: string): string {
    return `${this.container.url}/${this.objectKeyOf(key)}`;
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<ObjectInfo> {
    const blob = this.container.getBlockBlobClient(this.objectKeyOf(key));
    const { signal, contentLength, contentType, metadata } = options;
    signal?.throwIfAborted();
    // An abort destroys the body, which fails the read below; the SDK calls get it too.
    const source = signal ? addAbortSignal(signal, body) : body;
    // Cancels the other requests of this put once one of them (or the body) has failed.
    const cancel = new AbortController();
    const abortSignal = signal ? AbortSignal.any([signal, cancel.signal]) : cancel.signal;
    const tally = newTally();
    // Put Blob and Put Block List both take the policy and hold: the version is born WORM.
    const common = { metadata: metadata && azureMetadata(metadata), abortSignal, ...this.wormOf(options) };
    const headers = contentType ? { blobContentType: contentType } : {};
    try {
      const blocks = readBlocks(source, this.#blockSize, tally, contentLength);
      const first = await blocks.next();
      const second = first.done ? first : await blocks.next();
      let result: { etag?: string; versionId?: string };
      let digest: Buffer;
      if (first.done || second.done) {
        // The whole body fits one block: the body is read, so its MD5 is final.
        const data = first.done ? Buffer.alloc(0) : first.value;
        digest = tally.md5.digest();
        result = await blob.upload(data, data.byteLength, {
          ...common,
          transactionalContentMD5: digest,
          blobHTTPHeaders: { ...headers, blobContentMD5: digest },
        });
      } else {
        const ids = await this.#stageBlocks(blob, [first.value, second.value], blocks, abortSignal, cancel);
        digest = tally.md5.digest();
        // Put Block List does not check x-ms-blob-content-md5 (each block was checked), it
        // stores it: `head` then reports the MD5 of the whole object, as computed here.
        result = await blob.commitBlockList(ids, {
          ...common,
          blobHTTPHeaders: { ...headers, blobContentMD5: digest },
        });
      }
      return {
        key,
        size: tally.size,
        version: versionOf(result.versionId, result.etag),
        checksum: `md5:${digest.toString('base64')}`,
      };
    } catch (err) {
      cancel.abort();
      source.destroy();
      // Errors of the caller's body (and aborts) pass through as they are.
      if (tally.bodyError !== undefined) throw tally.bodyError;
      throw mapAzureError(err, 'put');
    }
  }

  /** Stages `head`, then the rest of `blocks`, at most `#maxInFlight` at a time; returns the ids in order. */
  async #stageBlocks(
    blob: BlockBlobClient,
    head: Buffer[],
    blocks: AsyncIterable<Buffer>,
    abortSignal: AbortSignal,
    cancel: AbortController,
  ): Promise<string[]> {
    const idOf = blockIdsFor();
    const ids: string[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: { err: unknown } | undefined;
    // A function, so that TypeScript does not narrow `failure` away: callbacks set it.
    const throwIfFailed = () => {
      if (failure) throw failure.err;
    };
    const stage = async (block: Buffer) => {
      throwIfFailed();
      const id = idOf(ids.length);
      ids.push(id);
      const request: Promise<void> = blob
        .stageBlock(id, block, block.byteLength, { transactionalContentMD5: md5Of(block), abortSignal })
        .then(
          () => undefined,
          (err: unknown) => {
            // The first failure is the one to report; the rest are mostly our own cancellation.
            failure ??= { err };
            cancel.abort();
          },
        )
        .finally(() => inFlight.delete(request));
      inFlight.add(request);
      while (inFlight.size >= this.#maxInFlight) await Promise.race(inFlight);
      throwIfFailed();
    };
    try {
      for (const block of head) await stage(block);
      for await (const block of blocks) await stage(block);
      await Promise.all(inFlight);
      throwIfFailed();
      return ids;
    } finally {
      // On failure, let cancelled requests settle so nothing of this put runs on afterwards.
      if (inFlight.size > 0) {
        cancel.abort();
        await Promise.all(inFlight);
      }
    }
  }

  async head(key: string, options: Signal = {}): Promise<ObjectInfo | undefined> {
    const blob = this.container.getBlobClient(this.objectKeyOf(key));
    options.signal?.throwIfAborted();
    try {
      const props = await blob.getProperties(abortOptions(options.signal));
      const info: ObjectInfo = {
        key,
        size: props.contentLength ?? 0,
        version: versionOf(props.versionId, props.etag),
      };
      if (props.contentMD5) info.checksum = `md5:${Buffer.from(props.contentMD5).toString('base64')}`;
      return info;
    } catch (err) {
      // HEAD has no body, but Azure names the error in x-ms-error-code: a missing container
      // is told apart from a missing blob, unlike on S3.
      if (isBlobMissing(err)) return undefined;
      throw mapAzureError(err, 'head');
    }
  }

  async get(key: string, options: { range?: ByteRange } & Signal = {}): Promise<Readable> {
    const blob = this.container.getBlobClient(this.objectKeyOf(key));
    const { range, signal } = options;
    if (range) checkRange(range);
    signal?.throwIfAborted();
    try {
      const response = range
        ? await blob.download(range.start, range.end - range.start + 1, abortOptions(signal))
        : await blob.download(0, undefined, abortOptions(signal));
      const body = response.readableStreamBody;
      const stream = body instanceof Readable ? body : body ? Readable.from(body) : Readable.from([]);
      const answered = range ? rangeAnswer(response.contentRange, range) : 'ok';
      if (range && answered !== 'ok') {
        stream.destroy();
        // Azure answers 416 for a start past the end; Azurite sends `bytes <size>-<size-1>/<size>`.
        if (answered === 'beyond') throw beyond(range);
        // Wrong bytes must never reach the decrypter as if they were the ones asked for.
        throw new StorageError('transient', 'InvalidRangeResponse', 'get: the store ignored the byte range');
      }
      return signal ? addAbortSignal(signal, stream) : stream;
    } catch (err) {
      if (isBlobMissing(err)) throw new ObjectNotFoundError(key);
      if (azureCodeOf(err) === 'InvalidRange' && range) throw beyond(range);
      throw mapAzureError(err, 'get');
    }
  }

  async delete(key: string, options: Signal = {}): Promise<void> {
    const blob = this.container.getBlobClient(this.objectKeyOf(key));
    options.signal?.throwIfAborted();
    try {
      // Snapshots go too (Azure refuses to delete a blob that has some otherwise). A blob
      // that only has uncommitted blocks does not exist yet: Azure drops them within a week.
      await blob.deleteIfExists({ deleteSnapshots: 'include', ...abortOptions(options.signal) });
    } catch (err) {
      throw mapAzureError(err, 'delete');
    }
  }

  async *list(prefix = '', options: Signal = {}): AsyncIterable<ObjectInfo> {
    assertObjectKeyPrefix(prefix);
    const { signal } = options;
    const pages = this.container
      .listBlobsFlat({ prefix: this.prefix + prefix, ...abortOptions(signal) })
      .byPage();
    for (;;) {
      signal?.throwIfAborted();
      let page: Awaited<ReturnType<typeof pages.next>>;
      try {
        page = await pages.next();
      } catch (err) {
        throw mapAzureError(err, 'list');
      }
      if (page.done) return;
      // Azure lists committed blobs only, in name order within and across pages.
      for (const item of page.value.segment.blobItems) {
        if (!item.name.startsWith(this.prefix)) continue;
        const key = item.name.slice(this.prefix.length);
        // Skips what the service never writes: "folder" markers (`a/`) and the like.
        if (!isUsableKey(key)) continue;
        // No version, as on S3: listings carry ETags but version ids only when asked for.
        yield { key, size: item.properties.contentLength ?? 0 };
      }
    }
  }

  /** Immutability options of a put: none without immutability, nor for a date already past. */
  wormOf(options: PutOptions): { immutabilityPolicy?: BlobImmutabilityPolicy; legalHold?: boolean } {
    if (!this.immutability) return {};
    const { retainUntil, legalHold } = options;
    return {
      ...(retainUntil && retainUntil.getTime() > Date.now()
        ? { immutabilityPolicy: { expiriesOn: retainUntil, policyMode: this.immutability.mode } }
        : {}),
      ...(legalHold ? { legalHold: true } : {}),
    };
  }

  async #setLegalHold(key: string, on: boolean): Promise<void> {
    try {
      await this.container.getBlobClient(this.objectKeyOf(key)).setLegalHold(on);
    } catch (err) {
      throw mapAzureError(err, 'legal-hold');
    }
  }

  /** The container must support version-level immutability, or policies and holds are refused. */
  async #checkImmutability(): Promise<void> {
    let enabled: boolean | undefined;
    try {
      enabled = (await this.container.getProperties()).isImmutableStorageWithVersioningEnabled;
    } catch (err) {
      throw mapAzureError(err, 'immutability');
    }
    if (enabled !== true) {
      throw new StorageError(
        'access-denied',
        'ImmutableStorageWithVersioningNotEnabled',
        'immutability: the container does not support version-level immutability',
      );
    }
  }
}

/**
 * Azure metadata names must be C# identifiers: `custody-recording` is stored as
 * `custody_recording` (any other character outside `[A-Za-z0-9_]` becomes `_` too).
 */
export function azureMetadata(metadata: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(metadata)) {
    const safe = name.replace(/[^A-Za-z0-9_]/g, '_');
    out[/^[0-9]/.test(safe) ? `_${safe}` : safe] = value;
  }
  return out;
}

function versionOf(versionId: string | undefined, etag: string | undefined): string | undefined {
  if (versionId) return versionId;
  // ETags come quoted; compare them unquoted, as the S3 target does.
  return etag ? etag.replace(/^"(.*)"$/, '$1') : undefined;
}

function abortOptions(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal ? { abortSignal: signal } : {};
}

/**
 * `Content-Range: bytes a-b/total` must be the requested range, clipped to the object's end
 * (`ok`); a range starting at or past the end is `beyond`; anything else is `wrong`.
 */
function rangeAnswer(contentRange: string | undefined, range: ByteRange): 'ok' | 'beyond' | 'wrong' {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange ?? '');
  if (!match) return 'wrong';
  const [start, end, total] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (!Number.isNaN(total) && range.start >= total) return 'beyond';
  const expectedEnd = Number.isNaN(total) ? range.end : Math.min(range.end, total - 1);
  return start === range.start && end === expectedEnd ? 'ok' : 'wrong';
}

function beyond(range: ByteRange): RangeError {
  return new RangeError(`byte range ${range.start}-${range.end} starts beyond the object`);
}

function checkRange(range: ByteRange): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`invalid byte range ${start}-${end}`);
  }
}
