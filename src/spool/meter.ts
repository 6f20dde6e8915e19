import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Counts and hashes plaintext on its way into the spool, and stops the upload the
 * moment it passes `limit` (never buffering the rest of an oversized body).
 */
export class Meter extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha256');

  constructor(
    private readonly limit: number,
    private readonly onLimit: () => Error,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      done(this.onLimit());
    } else {
      this.hash.update(chunk);
      done(null, chunk);
    }
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}
