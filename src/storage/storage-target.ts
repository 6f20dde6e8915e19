import type { Readable } from 'node:stream';

/** What a target reports about one stored object. */
export interface ObjectInfo {
  key: string;
  /** Size in bytes of the stored (encrypted) object. */
  size: number;
  /** Provider version id or etag where the store has one; recorded as the storage version. */
  version?: string;
  /**
   * Checksum of the stored bytes where the store keeps one (`crc32:<base64>`, composite
   * `crc32:<base64>-<parts>` for S3 multipart). `put` returns what was written; `head`
   * what the store reports, so a verify step can compare the two.
   */
  checksum?: string;
  /**
   * Ranges of the object (its own offsets) that the store copied server-side in a
   * `putSpliced`: bytes that never passed through this process, so a verify step can read
   * where they join what was streamed.
   */
  copiedRanges?: ByteRange[];
}

/**
 * A new object made of `head` followed by `source`'s bytes from `offset` to its end: a
 * rewrapped recording (new header, the same frames) or a moved one (empty head).
 */
export interface Splice {
  head: Buffer;
  source: StorageTarget;
  sourceKey: string;
  /** Where the kept bytes start in the source. */
  offset: number;
  /** The source's size as recorded; a source of another size is refused. */
  sourceSize: number;
}

export interface PutOptions {
  /** Exact byte length when known up front (lets S3 pick single PUT vs multipart). */
  contentLength?: number;
  /** Stored as object metadata; the object itself is always ciphertext. */
  contentType?: string;
  /** Non-secret metadata (recording id, format version). Never personal data. */
  metadata?: Record<string, string>;
  signal?: AbortSignal;
  /**
   * WORM retention: the store refuses to delete or overwrite this version before then (the
   * recording's `expires_at`). Only a target registered with WORM applies it; others ignore
   * it, as they ignore a date already past.
   */
  retainUntil?: Date;
  /** WORM legal hold on the new object from the start (a recording held before it was stored). */
  legalHold?: boolean;
}

/** An inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * A tenant's bucket or container (or the `local` directory standing in for one).
 *
 * Keys are relative to the tenant's configured prefix and produced by the service
 * (never taken from a request). `put` must be atomic from a reader's point of view:
 * a crashed upload never leaves a complete-looking object under `key`, and a repeated
 * `put` of the same key replaces any partial or earlier attempt.
 *
 * Every operation checks its key with `assertObjectKey` (and `list` its prefix with
 * `assertObjectKeyPrefix`) from `object-key.ts`, rejecting with `InvalidObjectKeyError`;
 * `test/contract/storage-target.suite.ts` holds each implementation to all of this.
 */
export interface StorageTarget {
  readonly provider: string;
  /** Human-readable location of `key` (bucket URL, path) recorded on the recording. */
  locationOf(key: string): string;
  put(key: string, body: Readable, options?: PutOptions): Promise<ObjectInfo>;
  /** `undefined` when the object does not exist. */
  head(key: string, options?: { signal?: AbortSignal }): Promise<ObjectInfo | undefined>;
  /** Streams the object, or only `range` of it. Rejects with `ObjectNotFoundError` when missing. */
  get(key: string, options?: { range?: ByteRange; signal?: AbortSignal }): Promise<Readable>;
  /** Idempotent: deleting a missing object succeeds. Also removes leftovers of failed puts. */
  delete(key: string, options?: { signal?: AbortSignal }): Promise<void>;
  /** Complete objects under `prefix` (relative to the tenant's root), in key order. */
  list(prefix?: string, options?: { signal?: AbortSignal }): AsyncIterable<ObjectInfo>;
  /**
   * Sets or releases the store's legal hold on `key` (S3 Object Lock, Azure immutability).
   * Defined only on targets registered with WORM: callers skip it when undefined.
   */
  setLegalHold?(key: string, on: boolean): Promise<void>;
  /** Checks the bucket or container can enforce WORM at all (the handshake step). WORM targets only. */
  checkWorm?(): Promise<void>;
  /**
   * Writes `key` as `splice.head` followed by the source's kept bytes, copying what it can
   * inside the store (S3 UploadPartCopy) instead of through this process. Resolves
   * `undefined` when it cannot here (another store or principal, too small to gain
   * anything, copy not implemented): the caller then streams with `put`. Same atomicity
   * as `put`. Defined only on targets that may be able to.
   */
  putSpliced?(key: string, splice: Splice, options?: PutOptions): Promise<ObjectInfo | undefined>;
}

/** Builds the target for one tenant from its validated storage configuration. */
export interface StorageTargetFactory<C = unknown> {
  readonly provider: string;
  /** At registration: may bring into being what the provider itself owns (the `local` directory). */
  create(tenantId: string, config: C): Promise<StorageTarget>;
  /**
   * For an already registered version: creates nothing, so a bucket that has gone since is
   * reported as missing rather than silently recreated. Defaults to `create`.
   */
  open?(tenantId: string, config: C): Promise<StorageTarget>;
}
