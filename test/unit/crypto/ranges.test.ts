import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  bufferSource,
  type CiphertextSource,
  createEncryptStream,
  openMessage,
} from '../../../src/crypto/index.js';
import { collect, encryptBuffer, rawKeyring } from './helpers.js';

const F = 4096;
const keyring = rawKeyring();

/** Records which byte ranges the reader fetched. */
function recording(source: CiphertextSource) {
  const reads: { start: number; end: number }[] = [];
  return {
    reads,
    source: {
      size: source.size,
      read(range: { start: number; end: number }) {
        reads.push({ ...range });
        return source.read(range);
      },
    } satisfies CiphertextSource,
  };
}

describe('ranged reads', () => {
  test('property: stream(range) equals the plaintext slice', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 1, max: 8 * F + 100 })
          .chain((size) =>
            fc.tuple(
              fc.constant(size),
              fc.integer({ min: 0, max: size - 1 }),
              fc.integer({ min: 0, max: size - 1 }),
              fc.integer({ min: 1, max: 3 * F }),
            ),
          ),
        async ([size, a, b, chunkSize]) => {
          const plaintext = randomBytes(size);
          const ct = await encryptBuffer(keyring, plaintext, { frameLength: F });
          const msg = await openMessage(bufferSource(ct, { chunkSize }), { keyring });
          const [start, end] = a <= b ? [a, b] : [b, a];
          const got = await collect(msg.stream({ start, end }));
          expect(got.equals(plaintext.subarray(start, end + 1))).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });

  test('reads only the frames holding the range', async () => {
    const plaintext = randomBytes(10 * F);
    const ct = await encryptBuffer(keyring, plaintext, { frameLength: F });
    const rec = recording(bufferSource(ct));
    const msg = await openMessage(rec.source, { keyring });
    rec.reads.length = 0;
    const H = msg.info.headerLength;
    const R = F + 32;
    await collect(msg.stream({ start: 3 * F + 10, end: 4 * F + 5 }));
    expect(rec.reads).toEqual([{ start: H + 3 * R, end: H + 5 * R - 1 }]);
  });

  test('a range reaching the end also reads (and checks) the final frame', async () => {
    const plaintext = randomBytes(4 * F); // final frame is empty
    const ct = await encryptBuffer(keyring, plaintext, { frameLength: F });
    const rec = recording(bufferSource(ct));
    const msg = await openMessage(rec.source, { keyring });
    rec.reads.length = 0;
    const got = await collect(msg.stream({ start: 4 * F - 10, end: 4 * F - 1 }));
    expect(got.equals(plaintext.subarray(4 * F - 10))).toBe(true);
    expect(rec.reads.at(-1)!.end).toBe(ct.length - 1);
  });

  test('end beyond the plaintext is clamped; unsatisfiable ranges throw RangeError', async () => {
    const plaintext = randomBytes(F + 1);
    const msg = await openMessage(bufferSource(await encryptBuffer(keyring, plaintext, { frameLength: F })), {
      keyring,
    });
    expect((await collect(msg.stream({ start: F, end: 10 * F }))).equals(plaintext.subarray(F))).toBe(true);
    expect(() => msg.stream({ start: F + 1, end: F + 5 })).toThrow(RangeError);
    expect(() => msg.stream({ start: 5, end: 4 })).toThrow(RangeError);
    expect(() => msg.stream({ start: -1, end: 4 })).toThrow(RangeError);
  });

  test('an empty message streams nothing and has no satisfiable range', async () => {
    const msg = await openMessage(bufferSource(await encryptBuffer(keyring, Buffer.alloc(0))), { keyring });
    expect(msg.info.plaintextLength).toBe(0);
    expect((await collect(msg.stream())).length).toBe(0);
    expect(() => msg.stream({ start: 0, end: 0 })).toThrow(RangeError);
  });

  test('an aborted stream stops with an AbortError', async () => {
    const ct = await encryptBuffer(keyring, randomBytes(20 * F), { frameLength: F });
    const msg = await openMessage(bufferSource(ct, { chunkSize: 512 }), { keyring });
    const ac = new AbortController();
    const s = msg.stream(undefined, { signal: ac.signal });
    const seen: Buffer[] = [];
    await expect(
      (async () => {
        for await (const c of s) {
          seen.push(c as Buffer);
          ac.abort();
        }
      })(),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(seen.length).toBeGreaterThan(0);
  });
});

describe('bounded memory', () => {
  test('a paused reader does not make the source read ahead', async () => {
    const ct = await encryptBuffer(keyring, randomBytes(100 * F), { frameLength: F });
    const inner = bufferSource(ct, { chunkSize: 1024 });
    let delivered = 0;
    const source: CiphertextSource = {
      size: inner.size,
      async read(range) {
        const s = await inner.read(range);
        s.on('data', (c: Buffer) => {
          delivered += c.length;
        });
        return s;
      },
    };
    const msg = await openMessage(source, { keyring });
    delivered = 0;
    const out = msg.stream();
    const first = await new Promise<Buffer>((resolve) => out.once('readable', () => resolve(out.read(1))));
    expect(first.length).toBe(1);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(delivered).toBeLessThan(8 * (F + 32));
    out.destroy();
  });

  test('the encrypt stream applies backpressure', async () => {
    const enc = await createEncryptStream({ keyring, context: {}, frameLength: F });
    let written = 0;
    while (enc.write(Buffer.alloc(F)) && written < 1000 * F) written += F;
    expect(written).toBeLessThan(8 * F);
    enc.destroy();
  });
});
