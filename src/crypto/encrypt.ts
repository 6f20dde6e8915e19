import { randomBytes } from 'node:crypto';
import { NodeAlgorithmSuite } from '@aws-crypto/material-management-node';
import { Transform, type TransformCallback } from 'node:stream';
import { sealFrame } from './frame.js';
import { encodeHeader } from './header.js';
import { type MessageKey, newMessageKey } from './keys.js';
import { assertFrameLength, DEFAULT_FRAME_LENGTH, SUITE_ID } from './layout.js';
import type { EncryptOptions, EncryptStream } from './types.js';

const MESSAGE_ID_LENGTH = 32;

/**
 * Generates and wraps a fresh data key (exactly one keyring onEncrypt), and returns a
 * Transform: plaintext in, the whole ESDK message out (header, frames, a final frame,
 * possibly empty). The header is produced before any input so it can be written early.
 */
export async function createEncryptStream(opts: EncryptOptions): Promise<EncryptStream> {
  const frameLength = opts.frameLength ?? DEFAULT_FRAME_LENGTH;
  assertFrameLength(frameLength);
  const messageId = randomBytes(MESSAGE_ID_LENGTH);
  const key = await newMessageKey(opts.keyring, opts.context, messageId);
  try {
    const header = encodeHeader(
      {
        encryptionContext: key.encryptionContext,
        encryptedDataKeys: key.encryptedDataKeys,
        suite: new NodeAlgorithmSuite(SUITE_ID),
        messageId,
        frameLength,
        suiteData: key.keyCommitment,
      },
      key.getCipher,
    );
    return new FrameEncryptStream(key, messageId, frameLength, header);
  } catch (err) {
    key.dispose();
    throw err;
  }
}

class FrameEncryptStream extends Transform implements EncryptStream {
  readonly headerLength: number;
  private seq = 1;
  /** Holds the start of a frame that arrived split across writes; full frames skip it. */
  private readonly pending: Buffer;
  private fill = 0;

  constructor(
    private readonly key: MessageKey,
    private readonly id: Buffer,
    readonly frameLength: number,
    header: Buffer,
  ) {
    // Explicit, not Node's default (16 KiB on Node 20, 64 KiB from Node 22): memory held
    // per stream stays the same whichever Node runs it.
    super({ highWaterMark: 16 * 1024 });
    this.headerLength = header.length;
    this.pending = Buffer.allocUnsafe(frameLength);
    this.push(header);
  }

  get messageId(): Buffer {
    return Buffer.from(this.id);
  }

  private seal(plaintext: Buffer, final: boolean): void {
    for (const part of sealFrame(this.key.getCipher, this.id, this.seq, plaintext, final)) this.push(part);
    this.seq++;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      const F = this.frameLength;
      let pos = 0;
      if (this.fill > 0) {
        pos = chunk.copy(this.pending, this.fill, 0, Math.min(F - this.fill, chunk.length));
        this.fill += pos;
        if (this.fill === F) {
          this.seal(this.pending, false);
          this.fill = 0;
        }
      }
      // Whole frames straight from the input: no copy.
      while (chunk.length - pos >= F) {
        this.seal(chunk.subarray(pos, pos + F), false);
        pos += F;
      }
      if (pos < chunk.length) this.fill += chunk.copy(this.pending, this.fill, pos);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      // A full frame is never held back, so the final frame has 0 … F−1 bytes.
      this.seal(this.pending.subarray(0, this.fill), true);
      this.wipe();
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  /** Zeroes the data key and the plaintext held for a partial frame. */
  private wipe(): void {
    this.key.dispose();
    this.pending.fill(0, 0, this.fill);
    this.fill = 0;
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.wipe();
    cb(err);
  }
}
