import type { Readable, Transform } from 'node:stream';
import type { KeyringNode } from '@aws-crypto/material-management-node';
import type { ByteRange } from '../storage/storage-target.js';
import type { DataKeyCache } from './cache.js';

export type { ByteRange };

/** Authenticated, non-secret key/value pairs stored in the header (also KMS's encryption context). */
export type EncryptionContext = Record<string, string>;

export interface EncryptOptions {
  keyring: KeyringNode;
  context: EncryptionContext;
  /** Plaintext bytes per frame; DEFAULT_FRAME_LENGTH when omitted. */
  frameLength?: number;
}

export interface EncryptStream extends Transform {
  readonly messageId: Buffer;
  readonly frameLength: number;
  /** Bytes before the first frame (header + its auth tag): input to `ciphertextLength`. */
  readonly headerLength: number;
}

/** Random access to a stored message: a storage object or a file. `read` returns the inclusive byte range. */
export interface CiphertextSource {
  size: number;
  read(range: ByteRange): Promise<Readable>;
}

export interface OpenOptions {
  keyring: KeyringNode;
  /** Every pair must be present and equal in the header's context, else IntegrityError "encryption context mismatch". */
  expectedContext?: EncryptionContext;
  /** Unwrapped data keys cached briefly so a seeking player does not call the key provider per request. */
  cache?: DataKeyCache;
  /**
   * Names the wrapping key for cache lookups (e.g. `${tenantId}/${keyId}`). Without it an
   * entry is only found again through the same keyring instance, so a header copied into
   * another tenant's storage can never be decrypted with the first tenant's cached key.
   */
  cacheScope?: string;
}

export interface MessageInfo {
  version: 2;
  suiteId: number;
  messageId: Buffer;
  frameLength: number;
  /** Bytes before the first frame, including the 16-byte header authentication tag. */
  headerLength: number;
  context: EncryptionContext;
  encryptedDataKeys: { providerId: string; providerInfo: string }[];
  plaintextLength: number;
}

export type HeaderInfo = Omit<MessageInfo, 'plaintextLength'>;

export interface OpenedMessage {
  info: MessageInfo;
  /**
   * Plaintext of `range` (default: all). Reads only the frames holding the range (plus
   * the final frame when the range reaches the end, which authenticates the length) and
   * errors with IntegrityError on any authentication failure. `range.end` beyond the
   * plaintext is clamped, as HTTP does; an empty or inverted range is a RangeError.
   */
  stream(range?: ByteRange, opts?: { signal?: AbortSignal }): Readable;
}
