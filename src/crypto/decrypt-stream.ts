import { Transform, type TransformCallback } from 'node:stream';
import { IntegrityError } from '../errors.js';
import { FrameDecoder } from './frame.js';
import { decodeHeader } from './header.js';
import { unlockMessage } from './keys.js';
import type { OpenOptions } from './types.js';

/**
 * Sequential decrypt for input that cannot seek (stdin, a pipe): ciphertext in,
 * plaintext out, with the same rules as the ranged reader: nothing from a frame before
 * its tag verifies, an error if the input ends before the final frame or continues
 * after it. Memory: the header, then one frame of plaintext plus the current chunk.
 */
export function createDecryptStream(opts: OpenOptions): Transform {
  return new DecryptStream(opts);
}

class DecryptStream extends Transform {
  private head: Buffer | undefined = Buffer.alloc(0);
  private decoder: FrameDecoder | undefined;

  constructor(private readonly opts: OpenOptions) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.decoder) {
      try {
        this.decoder.write(chunk);
        cb();
      } catch (err) {
        cb(err as Error);
      }
      return;
    }
    const bytes = Buffer.concat([this.head!, chunk]);
    let parsed: ReturnType<typeof decodeHeader>;
    try {
      parsed = decodeHeader(bytes);
    } catch (err) {
      cb(err as Error);
      return;
    }
    if (!parsed) {
      this.head = bytes;
      cb();
      return;
    }
    const header = parsed;
    this.head = undefined;
    unlockMessage(header, this.opts).then(
      (getDecipher) => {
        try {
          this.decoder = new FrameDecoder({
            getDecipher,
            messageId: header.header.messageId,
            frameLength: header.header.frameLength,
            firstSeq: 1,
            onFrame: (_seq, plaintext) => {
              for (const piece of plaintext) this.push(piece);
            },
          });
          this.decoder.write(bytes.subarray(header.headerLength));
          cb();
        } catch (err) {
          cb(err as Error);
        }
      },
      (err: Error) => cb(err),
    );
  }

  override _flush(cb: TransformCallback): void {
    if (!this.decoder) cb(new IntegrityError('message ended inside its header'));
    else if (!this.decoder.done) cb(new IntegrityError('message ended before its final frame'));
    else cb();
  }
}
