import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { progress } from '../../src/cli/progress.js';

const MiB = 1024 * 1024;

function fakeStderr(isTTY: boolean) {
  const out = new PassThrough() as PassThrough & { isTTY?: boolean };
  out.isTTY = isTTY;
  const seen: string[] = [];
  out.on('data', (c: Buffer) => seen.push(c.toString()));
  return { out, seen };
}

describe('CLI progress', () => {
  it('draws on a terminal for large jobs and passes every byte through', async () => {
    const { out, seen } = fakeStderr(true);
    const chunks: Buffer[] = [];
    await pipeline(
      Readable.from([Buffer.alloc(5 * MiB), Buffer.alloc(5 * MiB)]),
      progress('decrypting', 10 * MiB, out as unknown as NodeJS.WriteStream),
      new Writable({
        write(c: Buffer, _e, done) {
          chunks.push(c);
          done();
        },
      }),
    );
    expect(Buffer.concat(chunks).length).toBe(10 * MiB);
    expect(seen.join('')).toMatch(/decrypting 100% \(10\.0 \/ 10\.0 MiB\)\n$/);
  });

  it('stays quiet in a pipe', async () => {
    const { out, seen } = fakeStderr(false);
    await pipeline(
      Readable.from([Buffer.alloc(10 * MiB)]),
      progress('decrypting', 10 * MiB, out as unknown as NodeJS.WriteStream),
      new Writable({ write: (_c, _e, done) => done() }),
    );
    expect(seen).toEqual([]);
  });
});
