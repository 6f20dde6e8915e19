import { IntegrityError } from '../errors.js';

/**
 * Byte layout of an ESDK v2 framed message, as arithmetic.
 *
 * Custody always writes `floor(n / F)` regular frames followed by a final frame holding
 * the remaining `n mod F` bytes (possibly 0): the encrypt stream cannot know a full frame
 * is the last one until the input ends, so it never holds one back. Other writers (the
 * official SDK) may instead end with a full-length final frame; both layouts are told
 * apart by size alone because a regular frame is 32 bytes longer than its plaintext and
 * a final frame 40 bytes longer.
 */

/** Suite 0x0478 ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY: committing, unsigned. */
export const SUITE_ID = 0x0478;
export const IV_LENGTH = 12;
export const TAG_LENGTH = 16;
/** Sequence number (4) ‖ IV (12) ‖ … ‖ tag (16). */
export const REGULAR_FRAME_OVERHEAD = 4 + IV_LENGTH + TAG_LENGTH;
/** Final marker (4) ‖ sequence number (4) ‖ IV (12) ‖ content length (4) ‖ … ‖ tag (16). */
export const FINAL_FRAME_OVERHEAD = 4 + 4 + IV_LENGTH + 4 + TAG_LENGTH;
/** Sequence numbers are uint32 and 0xFFFFFFFF marks the final frame. */
export const MAX_SEQUENCE_NUMBER = 0xffff_fffe;
/**
 * Largest frame Custody writes or reads. A reader holds one frame of plaintext until its
 * tag verifies, so this bounds memory per stream even for a (key-holding) writer that
 * chose huge frames; the spec allows up to 4 GiB.
 */
export const MAX_FRAME_LENGTH = 16 * 1024 * 1024;

/**
 * 256 KiB, chosen with `bench/crypto.ts` among 64 KiB, 256 KiB and 1 MiB (2-core VM,
 * 256 MiB in memory): encrypt/decrypt ran ~820–980 / ~840–920 MB/s at 256 KiB, within
 * run-to-run noise of 1 MiB (~980–1050 / ~840–1200) and ahead of 64 KiB (~600–940 /
 * ~700–830), where per-frame cipher setup starts to show. What separates 256 KiB from
 * 1 MiB is seeking: a 64 KiB ranged read has to fetch and authenticate whole frames,
 * 0.7 ms median at 256 KiB vs 2.0 ms at 1 MiB, and with object storage the extra
 * megabyte per seek is transfer time too. Memory per stream is ~2 frames either way.
 */
export const DEFAULT_FRAME_LENGTH = 256 * 1024;

export function assertFrameLength(frameLength: number): void {
  if (!Number.isSafeInteger(frameLength) || frameLength < 1 || frameLength > MAX_FRAME_LENGTH) {
    throw new RangeError(`frameLength must be an integer in 1..${MAX_FRAME_LENGTH}`);
  }
}

/**
 * Exact ciphertext size for `plaintextLength` bytes as Custody writes them.
 * `headerLength` is the whole header including its 16-byte authentication tag, i.e. the
 * offset of the first frame (`EncryptStream.headerLength`, `MessageInfo.headerLength`).
 */
export function ciphertextLength(headerLength: number, frameLength: number, plaintextLength: number): number {
  assertFrameLength(frameLength);
  if (!Number.isSafeInteger(plaintextLength) || plaintextLength < 0) {
    throw new RangeError('plaintextLength must be a non-negative integer');
  }
  const full = Math.floor(plaintextLength / frameLength);
  const rest = plaintextLength - full * frameLength;
  return headerLength + full * (frameLength + REGULAR_FRAME_OVERHEAD) + FINAL_FRAME_OVERHEAD + rest;
}

/** Where the frames of a stored message are, derived from its size. */
export interface BodyLayout {
  headerLength: number;
  frameLength: number;
  /** Index (0-based) of the final frame; regular frames are 0 … finalIndex − 1. */
  finalIndex: number;
  /** Plaintext bytes in the final frame (0 … frameLength). */
  finalLength: number;
  plaintextLength: number;
  size: number;
}

/**
 * Solves `size = header + k·(F+32) + 40 + r` with `0 ≤ r ≤ F`; the solution is unique
 * (see the module comment). A size with no solution cannot be a complete message.
 */
export function layoutFromSize(size: number, headerLength: number, frameLength: number): BodyLayout {
  const body = size - headerLength - FINAL_FRAME_OVERHEAD;
  if (!Number.isSafeInteger(size) || body < 0) {
    throw new IntegrityError('message size fits no valid frame layout (truncated?)');
  }
  const regular = frameLength + REGULAR_FRAME_OVERHEAD;
  const finalIndex = Math.floor(body / regular);
  const finalLength = body - finalIndex * regular;
  if (finalLength > frameLength || finalIndex + 1 > MAX_SEQUENCE_NUMBER + 1) {
    throw new IntegrityError('message size fits no valid frame layout (truncated?)');
  }
  return {
    headerLength,
    frameLength,
    finalIndex,
    finalLength,
    plaintextLength: finalIndex * frameLength + finalLength,
    size,
  };
}

/** Byte offset of frame `index` in the message. */
export function frameOffset(layout: BodyLayout, index: number): number {
  return layout.headerLength + index * (layout.frameLength + REGULAR_FRAME_OVERHEAD);
}
