import { mapLimited } from '../../util/map-limited.js';
import { pinnedEtag } from '../splice-source.js';
import { ObjectNotFoundError, StorageError } from '../../errors.js';
import type { ByteRange, ObjectInfo, PutOptions, Splice } from '../storage-target.js';
import type { AzureBlobStorageTarget } from './azure-blob-storage-target.js';
import { azureCodeOf, isBlobMissing, mapAzureError } from './azure-errors.js';
import { blockIdsFor, md5Of } from './blocks.js';

/**
 * Server-side splice on Azure Blob: the new head is staged as a block from here (blocks
 * have no minimum size), the kept body as blocks the service reads itself from the old
 * blob (Put Block From URL), and Put Block List commits them: the audio never passes
 * through this process.
 *
 * The service reads the source as the same service principal: the request carries one of
 * its OAuth tokens (`x-ms-copy-source-authorization`), so no SAS is ever minted. The source
 * is pinned by its ETag, read before the first copy and again before the commit (the SDK's
 * Put Block From URL has no source condition; every write changes the ETag, so an equal
 * one means nothing was written in between): a blob replaced meanwhile fails the splice.
 * Uncommitted blocks are invisible and discarded by the service.
 *
 * Only between targets of the same copy scope (the same principal). A store without Put
 * Block From URL (Azurite answers APINotImplemented) or a source it may not read makes the
 * target remember, and every later splice resolves `undefined` at once: the caller streams.
 */

const MiB = 1024 * 1024;
/** Bytes per Put Block From URL (the service allows up to 4000 MiB; 100 MiB on old API versions). */
export const COPY_BLOCK_SIZE = 100 * MiB;
/** Below this much kept body a copy saves too little to be worth the extra requests. */
export const MIN_SPLICE_BODY = 4 * MiB;
const COPY_CONCURRENCY = 4;

/** Error codes of a store or principal that cannot copy this way: stream, now and from then on. */
const CANNOT_COPY = new Set([
  'NotImplemented',
  'APINotImplemented',
  'AuthorizationPermissionMismatch',
  'AuthorizationFailure',
  'FeatureNotSupportedForAccount',
]);
/** The service could not read this source (refused, gone, changed): stream this one. */
const SOURCE_UNREADABLE = 'CannotVerifyCopySource';

export interface AzureSpliceState {
  unsupported: boolean;
  blockSize: number;
  /** A bearer token with which the service may read the source (the principal's own). */
  sourceToken: () => Promise<string>;
}

export async function putSpliced(
  dest: AzureBlobStorageTarget,
  state: AzureSpliceState,
  key: string,
  splice: Splice,
  options: PutOptions = {},
): Promise<ObjectInfo | undefined> {
  const { source, head, offset, sourceSize } = splice;
  if (state.unsupported || !isSameScope(dest, source)) return undefined;
  const bodyLength = sourceSize - offset;
  if (offset < 0 || bodyLength < MIN_SPLICE_BODY) return undefined;
  options.signal?.throwIfAborted();
  const abortSignal = options.signal;
  const from = source.container.getBlobClient(source.objectKeyOf(splice.sourceKey));
  const etag = await pinSource(from, sourceSize);
  const token = await state.sourceToken();
  const blob = dest.container.getBlockBlobClient(dest.objectKeyOf(key));

  const idOf = blockIdsFor();
  const ids: string[] = [];
  const ranges: ByteRange[] = [];
  for (let start = offset; start < sourceSize; start += state.blockSize) {
    ranges.push({ start, end: Math.min(start + state.blockSize, sourceSize) - 1 });
  }
  const copyBlock = (range: ByteRange, id: string) =>
    blob.stageBlockFromURL(id, from.url, range.start, range.end - range.start + 1, {
      sourceAuthorization: { scheme: 'Bearer', value: token },
      ...(abortSignal ? { abortSignal } : {}),
    });
  try {
    if (head.length > 0) {
      ids.push(idOf(ids.length));
      await blob.stageBlock(ids[0]!, head, head.length, {
        transactionalContentMD5: md5Of(head),
        ...(abortSignal ? { abortSignal } : {}),
      });
    }
    const copyIds = ranges.map(() => {
      ids.push(idOf(ids.length));
      return ids.at(-1)!;
    });
    // The first copy alone: a store that cannot copy says so before the others are sent.
    await copyBlock(ranges[0]!, copyIds[0]!);
    await mapLimited(ranges.slice(1), COPY_CONCURRENCY, (range, i) => copyBlock(range, copyIds[i + 1]!));
    if ((await pinSource(from, sourceSize)) !== etag) {
      throw new StorageError(
        'transient',
        'SourceConditionNotMet',
        'put: the source blob changed while copied',
      );
    }
    const result = await blob.commitBlockList(ids, {
      ...(options.metadata ? { metadata: dest.metadataOf(options.metadata) } : {}),
      ...(options.contentType ? { blobHTTPHeaders: { blobContentType: options.contentType } } : {}),
      ...dest.wormOf(options),
      ...(abortSignal ? { abortSignal } : {}),
    });
    const size = head.length + bodyLength;
    const info: ObjectInfo = { key, size, copiedRanges: [{ start: head.length, end: size - 1 }] };
    const version = result.versionId ?? result.etag?.replace(/^"(.*)"$/, '$1');
    if (version) info.version = version;
    return info;
  } catch (err) {
    forgetSourceToken(err);
    const code = azureCodeOf(err);
    if ((code !== undefined && CANNOT_COPY.has(code)) || statusOf(err) === 501) {
      state.unsupported = true;
      return undefined;
    }
    if (code === SOURCE_UNREADABLE) return undefined;
    throw mapAzureError(err, 'put');
  }
}

/**
 * The SDK's error keeps the failed request, headers and all: the source's bearer token must
 * not travel on with it (into a log, a job's failure record).
 */
function forgetSourceToken(err: unknown): void {
  const headers = (err as { request?: { headers?: { delete?(name: string): void } } })?.request?.headers;
  headers?.delete?.('x-ms-copy-source-authorization');
}

function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number })?.statusCode;
}

function isSameScope(
  dest: AzureBlobStorageTarget,
  source: Splice['source'],
): source is AzureBlobStorageTarget {
  const other = source as Partial<AzureBlobStorageTarget>;
  return (
    source.provider === 'azure-blob' &&
    dest.copyScope !== undefined &&
    other.copyScope === dest.copyScope &&
    typeof other.objectKeyOf === 'function'
  );
}

/** The source's ETag, after checking it is the recorded size. */
async function pinSource(
  from: ReturnType<AzureBlobStorageTarget['container']['getBlobClient']>,
  sourceSize: number,
): Promise<string> {
  let props: Awaited<ReturnType<typeof from.getProperties>>;
  try {
    props = await from.getProperties();
  } catch (err) {
    if (isBlobMissing(err)) throw new ObjectNotFoundError(from.name);
    throw mapAzureError(err, 'head');
  }
  return pinnedEtag('blob', { size: props.contentLength, etag: props.etag }, sourceSize);
}
