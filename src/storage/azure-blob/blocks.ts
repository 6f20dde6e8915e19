import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { StorageError } from '../../errors.js';

/** What one read of a put's body saw: its size, its MD5, and an error of its own if it failed. */
export interface BodyTally {
  size: number;
  /** MD5 of every byte read so far; `digest()` only once the body is done. */
  readonly md5: ReturnType<typeof createHash>;
  /** Set when the body (not the store) failed, so the put can rethrow it unwrapped. */
  bodyError: unknown;
}

export function newTally(): BodyTally {
  return { size: 0, md5: createHash('md5'), bodyError: undefined };
}

/**
 * Cuts `body` into blocks of exactly `blockSize` bytes (the last one shorter, never empty),
 * hashing and counting as it goes. Holds at most one block plus one chunk of the body.
 * When `expected` is given and the body ends at another length, fails before yielding the
 * last block, so an upload that trusts the announced length is never committed short.
 */
export async function* readBlocks(
  body: Readable,
  blockSize: number,
  tally: BodyTally,
  expected: number | undefined,
): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let filled = 0;
  try {
    for await (const chunk of body) {
      let buf = bufferOf(chunk);
      tally.md5.update(buf);
      tally.size += buf.byteLength;
      while (buf.byteLength > 0) {
        const take = Math.min(blockSize - filled, buf.byteLength);
        parts.push(buf.subarray(0, take));
        filled += take;
        buf = buf.subarray(take);
        if (filled === blockSize) {
          const block = Buffer.concat(parts, filled);
          parts = [];
          filled = 0;
          yield block;
        }
      }
    }
    if (expected !== undefined && tally.size !== expected) {
      throw new StorageError(
        'transient',
        'IncompleteBody',
        `body was ${tally.size} bytes, expected ${expected}`,
      );
    }
  } catch (err) {
    tally.bodyError = err;
    throw err;
  }
  if (filled > 0) yield Buffer.concat(parts, filled);
}

function bufferOf(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk);
  const view = chunk as Uint8Array;
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

/** The MD5 of `data` as Azure's `Content-MD5` takes it (raw 16 bytes). */
export function md5Of(data: Uint8Array): Buffer {
  return createHash('md5').update(data).digest();
}

/**
 * Block ids for one upload attempt: a random attempt id plus the block's index, always the
 * same length (Azure refuses ids of different lengths within one blob, uncommitted blocks of
 * an earlier failed attempt included). The random part keeps a retried or concurrent put
 * from committing another attempt's blocks.
 */
export function blockIdsFor(): (index: number) => string {
  const attempt = randomBytes(12);
  return (index) => {
    const id = Buffer.alloc(16);
    attempt.copy(id, 0);
    id.writeUInt32BE(index, 12);
    return id.toString('base64');
  };
}
