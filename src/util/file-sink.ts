import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

/**
 * A Writable onto an open file handle that fsyncs before it finishes, and leaves the
 * handle open for the caller (who still needs it to stat, close or unlink). Node 20's
 * `createWriteStream({ autoClose: false })` never signals completion to `pipeline`.
 */
export function fileSink(handle: FileHandle): Writable {
  return new Writable({
    highWaterMark: 1024 * 1024,
    async write(chunk: Buffer, _enc, done) {
      try {
        await handle.write(chunk);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    async writev(chunks, done) {
      try {
        await handle.writev(chunks.map((c) => c.chunk as Buffer));
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    async final(done) {
      try {
        await handle.sync();
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
}
