import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, mkdir, open, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { ObjectNotFoundError, StorageError } from '../../errors.js';
import { assertObjectKeyPrefix } from '../object-key.js';
import type { ByteRange, ObjectInfo, PutOptions, StorageTarget } from '../storage-target.js';
import { containerMissing, hasCode, mapFsError } from './fs-errors.js';
import { objectPath, PARTIAL_SUFFIX, prefixDirPath, tenantRoot } from './paths.js';
import { objectInfo, walkObjects } from './walk.js';

/**
 * A tenant's objects as files under `<rootDir>/<tenantId>/<path>/`: the single-machine
 * stand-in for a bucket.
 *
 * Uploads go to a fresh file in `<final>.partial/`, are fsynced, then renamed onto the
 * final name, so a reader only ever sees complete objects. A unique file per attempt
 * (rather than one fixed temp name) keeps two concurrent puts of one key from writing
 * into the same inode and renaming a half-written file into place; the `.partial`
 * directory is removed by every successful put and by `delete`, so a crashed attempt
 * leaves nothing behind for long. Metadata and content type are not stored: the object
 * is self-describing ciphertext.
 */
export class LocalStorageTarget implements StorageTarget {
  readonly provider = 'local';
  /** Absolute directory holding this tenant's objects. */
  readonly root: string;

  constructor(rootDir: string, tenantId: string, pathSegment: string) {
    this.root = tenantRoot(rootDir, tenantId, pathSegment);
  }

  locationOf(key: string): string {
    return pathToFileURL(objectPath(this.root, key)).href;
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<ObjectInfo> {
    const finalPath = objectPath(this.root, key);
    const { signal, contentLength } = options;
    signal?.throwIfAborted();
    await this.#assertRoot();
    const partialDir = finalPath + PARTIAL_SUFFIX;
    const tempPath = path.join(partialDir, randomUUID());
    try {
      const { handle, createdFrom } = await openTemp(partialDir, tempPath);
      let info: ObjectInfo;
      try {
        const size = await writeBody(handle, signal ? addAbortSignal(signal, body) : body);
        if (contentLength !== undefined && size !== contentLength) {
          throw new StorageError(
            'transient',
            'IncompleteBody',
            `body was ${size} bytes, expected ${contentLength}`,
          );
        }
        await handle.sync();
        info = objectInfo(key, await handle.stat({ bigint: true }));
      } finally {
        await handle.close();
      }
      signal?.throwIfAborted();
      await rename(tempPath, finalPath);
      // Make the new name durable, including any year/month/day directories just created.
      await fsyncDirs(path.dirname(finalPath), createdFrom ? path.dirname(createdFrom) : undefined);
      await rm(partialDir, { recursive: true, force: true });
      return info;
    } catch (err) {
      await rm(tempPath, { force: true }).catch(() => {});
      await rmdir(partialDir).catch(() => {});
      throw await this.#fail(err, 'put');
    }
  }

  async head(key: string, options: { signal?: AbortSignal } = {}): Promise<ObjectInfo | undefined> {
    const file = objectPath(this.root, key);
    options.signal?.throwIfAborted();
    try {
      const st = await stat(file, { bigint: true });
      return st.isFile() ? objectInfo(key, st) : undefined;
    } catch (err) {
      if (!hasCode(err, 'ENOENT', 'ENOTDIR')) throw await this.#fail(err, 'head');
      await this.#assertRoot();
      return undefined;
    }
  }

  async get(key: string, options: { range?: ByteRange; signal?: AbortSignal } = {}): Promise<Readable> {
    const file = objectPath(this.root, key);
    const { range, signal } = options;
    signal?.throwIfAborted();
    let handle: FileHandle;
    try {
      handle = await open(file, constants.O_RDONLY);
    } catch (err) {
      if (!hasCode(err, 'ENOENT', 'ENOTDIR')) throw await this.#fail(err, 'get');
      await this.#assertRoot();
      throw new ObjectNotFoundError(key);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new ObjectNotFoundError(key);
      if (range) checkRange(range, st.size);
      // Reads the inode opened above, so a concurrent put replacing the key cannot mix versions.
      const stream = handle.createReadStream(range ? { start: range.start, end: range.end } : {});
      return signal ? addAbortSignal(signal, stream) : stream;
    } catch (err) {
      await handle.close();
      throw await this.#fail(err, 'get');
    }
  }

  async delete(key: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const file = objectPath(this.root, key);
    options.signal?.throwIfAborted();
    await this.#assertRoot();
    try {
      try {
        await unlink(file);
        await fsyncDirs(path.dirname(file));
      } catch (err) {
        // Missing, or a directory (the key is only a prefix of other keys): nothing to delete.
        if (!hasCode(err, 'ENOENT', 'ENOTDIR', 'EISDIR')) throw err;
      }
      await rm(file + PARTIAL_SUFFIX, { recursive: true, force: true });
    } catch (err) {
      throw await this.#fail(err, 'delete');
    }
    await this.#pruneEmptyDirs(path.dirname(file));
  }

  async *list(prefix = '', options: { signal?: AbortSignal } = {}): AsyncIterable<ObjectInfo> {
    assertObjectKeyPrefix(prefix);
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : '';
    const dir = prefixDirPath(this.root, dirKey);
    options.signal?.throwIfAborted();
    await this.#assertRoot();
    try {
      yield* walkObjects(dir, dirKey === '' ? '' : `${dirKey}/`, prefix, options.signal);
    } catch (err) {
      throw await this.#fail(err, 'list');
    }
  }

  /** A missing root is a configuration problem (the bucket is gone), not a missing object. */
  async #assertRoot(): Promise<void> {
    try {
      if (!(await stat(this.root)).isDirectory()) throw containerMissing();
    } catch (err) {
      if (hasCode(err, 'ENOENT', 'ENOTDIR')) throw containerMissing(err);
      throw mapFsError(err, 'storage root');
    }
  }

  async #fail(err: unknown, operation: string): Promise<unknown> {
    if (hasCode(err, 'ENOENT')) {
      try {
        await this.#assertRoot();
      } catch (rootErr) {
        return rootErr;
      }
    }
    return mapFsError(err, operation);
  }

  /** Removes directories left empty by a delete (day, month, year), never the root itself. */
  async #pruneEmptyDirs(from: string): Promise<void> {
    for (let dir = from; dir.startsWith(this.root + path.sep); dir = path.dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty (or already gone, or re-used by a concurrent put): stop here
      }
    }
  }
}

/**
 * Creates `partialDir` (and any parents) and a new temp file in it. A concurrent delete
 * may remove the empty directories between the two steps, so that is retried.
 */
async function openTemp(
  partialDir: string,
  tempPath: string,
): Promise<{ handle: FileHandle; createdFrom: string | undefined }> {
  for (let attempt = 1; ; attempt++) {
    const createdFrom = await mkdir(partialDir, { recursive: true, mode: 0o700 });
    try {
      const flags = constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY;
      return { handle: await open(tempPath, flags, 0o600), createdFrom };
    } catch (err) {
      if (attempt >= 3 || !hasCode(err, 'ENOENT')) throw err;
    }
  }
}

async function writeBody(handle: FileHandle, body: AsyncIterable<unknown>): Promise<number> {
  // Coalesce small chunks (an encrypted frame arrives as header, ciphertext and tag) into
  // ~1 MiB vectored writes: one thread-pool round trip instead of three per frame.
  let size = 0;
  let batch: Uint8Array[] = [];
  let batched = 0;
  const flush = async () => {
    const pending = batch;
    batch = [];
    batched = 0;
    while (pending.length) {
      let { bytesWritten } = await handle.writev(pending);
      // A short write (rare on regular files) resumes where it stopped.
      while (pending.length && bytesWritten >= pending[0]!.byteLength)
        bytesWritten -= pending.shift()!.byteLength;
      if (pending.length && bytesWritten > 0) pending[0] = pending[0]!.subarray(bytesWritten);
    }
  };
  for await (const chunk of body) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
    if (buf.byteLength === 0) continue;
    batch.push(buf);
    batched += buf.byteLength;
    size += buf.byteLength;
    if (batched >= 1024 * 1024) await flush();
  }
  await flush();
  return size;
}

/** fsyncs `dir`, then each ancestor up to and including `upTo` (when given). */
async function fsyncDirs(dir: string, upTo?: string): Promise<void> {
  for (let current = dir; ; current = path.dirname(current)) {
    const handle = await open(current, constants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (upTo === undefined || current === upTo || current === path.dirname(current)) return;
    if (!current.startsWith(upTo)) return;
  }
}

function checkRange(range: ByteRange, size: number): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`invalid byte range ${start}-${end}`);
  }
  if (start >= size)
    throw new RangeError(`byte range ${start}-${end} starts beyond the object (${size} bytes)`);
}
