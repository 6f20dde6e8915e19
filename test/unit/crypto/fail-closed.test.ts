import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { IntegrityError, KeyProviderError } from '../../../src/errors.js';
import {
  bufferSource,
  createDecryptStream,
  inspectMessage,
  openMessage,
  parseHeader,
} from '../../../src/crypto/index.js';
import { collect, collectUntilError, encryptBuffer, rawKeyring } from './helpers.js';

const F = 4096;
const R = F + 32; // regular frame on the wire
const FRAMES = 5;
const keyring = rawKeyring();
const plaintext = randomBytes(FRAMES * F + 1000);
const ct = await encryptBuffer(keyring, plaintext, { frameLength: F });
const H = parseHeader(ct).headerLength;
const frameAt = (i: number) => H + i * R;

/** Everything a reader can do with the bytes must fail: ranged full read, sequential, inspect. */
async function expectAllReject(bytes: Buffer, allowUnwrapFailure = false) {
  const ok = (err: unknown) =>
    err instanceof IntegrityError ||
    (allowUnwrapFailure && err instanceof KeyProviderError && err.code === 'KEY_UNWRAP_FAILED');
  const ranged = await openMessage(bufferSource(bytes, { chunkSize: 777 }), { keyring })
    .then((m) => collect(m.stream()))
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(ok(ranged), `ranged: ${String(ranged)}`).toBe(true);
  const seq = await collect(Readable.from([bytes]).pipe(createDecryptStream({ keyring }))).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(ok(seq), `sequential: ${String(seq)}`).toBe(true);
  const inspected = await inspectMessage(bufferSource(bytes), { keyring }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(ok(inspected), `inspect: ${String(inspected)}`).toBe(true);
}

function flip(bytes: Buffer, pos: number, bit = 0): Buffer {
  const copy = Buffer.from(bytes);
  copy[pos]! ^= 1 << bit;
  return copy;
}

describe('fail closed', () => {
  test('the untouched message reads', async () => {
    const m = await openMessage(bufferSource(ct), { keyring });
    expect((await collect(m.stream())).equals(plaintext)).toBe(true);
  });

  test('truncation at every frame boundary and mid-frame', async () => {
    const cuts = new Set<number>([0, 1, H - 1, H, ct.length - 1, ct.length - 16, ct.length - 1000]);
    for (let i = 0; i <= FRAMES; i++) {
      for (const d of [0, 1, 4, 16, 40, 41, 2000, R - 17, R - 1]) cuts.add(frameAt(i) + d);
    }
    for (const cut of cuts) {
      if (cut < ct.length) await expectAllReject(ct.subarray(0, cut));
    }
  });

  test('single bit flips in the header', async () => {
    for (let pos = 0; pos < H; pos++) await expectAllReject(flip(ct, pos, pos % 8), true);
  });

  test('single bit flips in frame headers, bodies and tags', async () => {
    const positions: number[] = [];
    for (let i = 0; i < FRAMES; i++) {
      const at = frameAt(i);
      positions.push(
        at,
        at + 3,
        at + 4,
        at + 15,
        at + 16,
        at + 16 + F / 2,
        at + 16 + F - 1,
        at + R - 16,
        at + R - 1,
      );
    }
    const fin = frameAt(FRAMES);
    for (let d = 0; d < 24; d += 3) positions.push(fin + d);
    positions.push(fin + 24, fin + 24 + 999, ct.length - 16, ct.length - 1);
    for (const pos of positions) await expectAllReject(flip(ct, pos, 7));
  });

  test('reordered frames', async () => {
    const swapped = Buffer.concat([
      ct.subarray(0, frameAt(1)),
      ct.subarray(frameAt(2), frameAt(3)),
      ct.subarray(frameAt(1), frameAt(2)),
      ct.subarray(frameAt(3)),
    ]);
    await expectAllReject(swapped);
  });

  test('duplicated frames (replacing one, or inserted)', async () => {
    const replaced = Buffer.concat([
      ct.subarray(0, frameAt(2)),
      ct.subarray(frameAt(1), frameAt(2)),
      ct.subarray(frameAt(3)),
    ]);
    await expectAllReject(replaced);
    const inserted = Buffer.concat([ct.subarray(0, frameAt(2)), ct.subarray(frameAt(1))]);
    await expectAllReject(inserted);
  });

  test('a frame removed from the middle', async () => {
    await expectAllReject(Buffer.concat([ct.subarray(0, frameAt(1)), ct.subarray(frameAt(2))]));
  });

  test('trailing bytes after the final frame', async () => {
    await expectAllReject(Buffer.concat([ct, Buffer.alloc(1)]));
  });

  test('header of another message spliced on', async () => {
    const other = await encryptBuffer(keyring, randomBytes(plaintext.length), { frameLength: F });
    const Ho = parseHeader(other).headerLength;
    await expectAllReject(Buffer.concat([other.subarray(0, Ho), ct.subarray(H)]));
  });

  test('context mismatch', async () => {
    const source = bufferSource(ct);
    const mismatch = openMessage(source, { keyring, expectedContext: { tenant: 't2' } });
    await expect(mismatch).rejects.toBeInstanceOf(IntegrityError);
    await expect(mismatch).rejects.toThrow('encryption context mismatch');
    await expect(openMessage(source, { keyring, expectedContext: { missing: 'x' } })).rejects.toThrow(
      'encryption context mismatch',
    );
    const subset = await openMessage(source, { keyring, expectedContext: { tenant: 't1' } });
    expect(subset.info.context).toEqual({ tenant: 't1', recording: 'r1' });
  });

  test('wrong key', async () => {
    const wrong = rawKeyring();
    const err = await openMessage(bufferSource(ct), { keyring: wrong }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyProviderError);
    expect(err).toMatchObject({ kind: 'tenant', code: 'KEY_UNWRAP_FAILED' });
    await expect(
      collect(Readable.from([ct]).pipe(createDecryptStream({ keyring: wrong }))),
    ).rejects.toBeInstanceOf(KeyProviderError);
  });

  test('a flipped byte in frame k releases no byte of frame k', async () => {
    for (const k of [0, 2, FRAMES]) {
      const bad = flip(ct, frameAt(k) + (k === FRAMES ? 24 : 16) + 10);
      const m = await openMessage(bufferSource(bad, { chunkSize: 1500 }), { keyring });
      const { data, error } = await collectUntilError(m.stream());
      expect(error).toBeInstanceOf(IntegrityError);
      expect(data.equals(plaintext.subarray(0, k * F))).toBe(true);

      // Sequential: may drop buffered frames when it errors, but never releases frame k.
      const seq = await collectUntilError(Readable.from([bad]).pipe(createDecryptStream({ keyring })));
      expect(seq.error).toBeInstanceOf(IntegrityError);
      expect(seq.data.length).toBeLessThanOrEqual(k * F);
      expect(seq.data.equals(plaintext.subarray(0, seq.data.length))).toBe(true);
    }
  });

  test('a ranged read of a flipped frame errors and releases nothing of it', async () => {
    const bad = flip(ct, frameAt(3) + 100);
    const m = await openMessage(bufferSource(bad), { keyring });
    const { data, error } = await collectUntilError(m.stream({ start: 3 * F + 50, end: 3 * F + 60 }));
    expect(error).toBeInstanceOf(IntegrityError);
    expect(data.length).toBe(0);
    // Frames around it still read.
    const ok = await collect(m.stream({ start: 2 * F, end: 3 * F - 1 }));
    expect(ok.equals(plaintext.subarray(2 * F, 3 * F))).toBe(true);
  });

  test('a size that fits no frame layout is rejected at open', async () => {
    await expect(openMessage(bufferSource(ct.subarray(0, frameAt(1) + 10)), { keyring })).rejects.toThrow(
      /no valid frame layout/,
    );
  });

  test('error messages carry no plaintext', async () => {
    const bad = flip(ct, frameAt(1) + 20);
    const m = await openMessage(bufferSource(bad), { keyring });
    const { error } = await collectUntilError(m.stream());
    const text = `${(error as Error).message} ${String((error as Error).cause ?? '')}`;
    expect(text).not.toContain(plaintext.subarray(F, F + 8).toString('hex'));
    expect(text).not.toContain(plaintext.subarray(F, F + 8).toString('latin1'));
  });
});
