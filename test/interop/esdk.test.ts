import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { AlgorithmSuiteIdentifier, buildClient, CommitmentPolicy } from '@aws-crypto/client-node';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  bufferSource,
  createDecryptStream,
  DEFAULT_FRAME_LENGTH,
  inspectMessage,
  openMessage,
} from '../../src/crypto/index.js';
import { collect, encryptBuffer, rawKeyring } from '../unit/crypto/helpers.js';

/**
 * Byte compatibility with the official AWS Encryption SDK for JavaScript (pinned 5.0.2),
 * both ways: what Custody writes the SDK reads, and what the SDK writes Custody reads,
 * including at arbitrary ranges.
 */

const client = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
const SUITE = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;
const keyring = rawKeyring();
const context = { tenant: 't1', recording: 'r1', 'zz-ünïcode': 'välue' };

describe('Custody → official SDK', () => {
  const F = 4096;
  test.each([0, 1, F - 1, F, F + 1, 3 * F, 7 * F + 99])('%i bytes, 4 KiB frames', async (n) => {
    const plaintext = randomBytes(n);
    const ct = await encryptBuffer(keyring, plaintext, { frameLength: F, context });
    const { plaintext: out, messageHeader } = await client.decrypt(keyring, ct);
    expect(out.equals(plaintext)).toBe(true);
    expect(messageHeader.encryptionContext).toEqual(context);
    expect(messageHeader.suiteId).toBe(SUITE);
    const streamed = await collect(Readable.from([ct]).pipe(client.decryptUnsignedMessageStream(keyring)));
    expect(streamed.equals(plaintext)).toBe(true);
  });

  test('empty encryption context', async () => {
    const plaintext = randomBytes(100);
    const ct = await encryptBuffer(keyring, plaintext, { frameLength: F, context: {} });
    const { plaintext: out, messageHeader } = await client.decrypt(keyring, ct);
    expect(out.equals(plaintext)).toBe(true);
    expect(messageHeader.encryptionContext).toEqual({});
  });

  test('default frame length', async () => {
    const plaintext = randomBytes(2 * DEFAULT_FRAME_LENGTH + 5);
    const ct = await encryptBuffer(keyring, plaintext, { context, chunk: 65_536 });
    const { plaintext: out, messageHeader } = await client.decrypt(keyring, ct);
    expect(out.equals(plaintext)).toBe(true);
    expect(messageHeader.frameLength).toBe(DEFAULT_FRAME_LENGTH);
  });
});

async function sdkEncrypt(plaintext: Buffer, frameLength: number, streaming: boolean): Promise<Buffer> {
  const opts = { suiteId: SUITE, frameLength, encryptionContext: context };
  if (!streaming) return (await client.encrypt(keyring, plaintext, opts)).result;
  const enc = client.encryptStream(keyring, opts);
  const pieces = [plaintext.subarray(0, 1000), plaintext.subarray(1000)].filter((b) => b.length > 0);
  return collect(Readable.from(pieces).pipe(enc as unknown as NodeJS.WritableStream) as unknown as Readable);
}

describe('official SDK → Custody', () => {
  for (const F of [4096, 65536]) {
    for (const streaming of [false, true]) {
      const how = streaming ? 'encryptStream' : 'encrypt';
      test.each([0, 1, F - 1, F, F + 1, 2 * F, 3 * F + 5])(
        `%i bytes, ${F / 1024} KiB frames, ${how}`,
        async (n) => {
          const plaintext = randomBytes(n);
          const ct = await sdkEncrypt(plaintext, F, streaming);
          const msg = await openMessage(bufferSource(ct, { chunkSize: 5000 }), {
            keyring,
            expectedContext: context,
          });
          expect(msg.info.plaintextLength).toBe(n);
          expect(msg.info.context).toEqual(context);
          expect((await collect(msg.stream())).equals(plaintext)).toBe(true);
          const ranges: [number, number][] = [
            [0, 0],
            [0, n - 1],
            [n - 1, n - 1],
            [Math.floor(n / 2), n - 1],
            [F - 1, F],
            [F, 2 * F - 1],
          ];
          for (const [start, end] of ranges) {
            if (start < 0 || start >= n || end < start) continue;
            const got = await collect(msg.stream({ start, end }));
            expect(got.equals(plaintext.subarray(start, end + 1)), `${start}-${end}`).toBe(true);
          }
          const seq = await collect(Readable.from([ct]).pipe(createDecryptStream({ keyring })));
          expect(seq.equals(plaintext)).toBe(true);
          expect((await inspectMessage(bufferSource(ct), { keyring })).plaintextLength).toBe(n);
        },
      );
    }
  }

  test('property: arbitrary ranges of SDK-written messages', async () => {
    const F = 4096;
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 1, max: 6 * F })
          .chain((size) => fc.tuple(fc.constant(size), fc.nat(size - 1), fc.nat(size - 1), fc.boolean())),
        async ([size, a, b, streaming]) => {
          const plaintext = randomBytes(size);
          const ct = await sdkEncrypt(plaintext, F, streaming);
          const msg = await openMessage(bufferSource(ct, { chunkSize: 3000 }), { keyring });
          const [start, end] = a <= b ? [a, b] : [b, a];
          expect((await collect(msg.stream({ start, end }))).equals(plaintext.subarray(start, end + 1))).toBe(
            true,
          );
        },
      ),
      { numRuns: 60 },
    );
  });
});
