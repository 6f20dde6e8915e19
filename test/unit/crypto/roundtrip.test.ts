import { randomBytes } from 'node:crypto';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { aadFactory, ContentType } from '@aws-crypto/serialize';
import { describe, expect, test } from 'vitest';
import {
  bufferSource,
  ciphertextLength,
  createDecryptStream,
  createEncryptStream,
  DEFAULT_FRAME_LENGTH,
  fileSource,
  inspectMessage,
  openMessage,
  parseHeader,
} from '../../../src/crypto/index.js';
import { frameAad } from '../../../src/crypto/frame.js';
import { collect, encryptBuffer, rawKeyring } from './helpers.js';

const F = 4096;
const context = { tenant: 't1', recording: 'r1' };
const keyring = rawKeyring();

describe('round trip', () => {
  test.each([0, 1, F - 1, F, F + 1, 3 * F, 5 * F + 123])('%i bytes at 4 KiB frames', async (n) => {
    const plaintext = randomBytes(n);
    const ct = await encryptBuffer(keyring, plaintext, { frameLength: F, context });
    const msg = await openMessage(bufferSource(ct, { chunkSize: 1000 }), {
      keyring,
      expectedContext: context,
    });
    expect(msg.info.plaintextLength).toBe(n);
    expect(msg.info.frameLength).toBe(F);
    expect(ct.length).toBe(ciphertextLength(msg.info.headerLength, F, n));
    expect((await collect(msg.stream())).equals(plaintext)).toBe(true);
    const seq = await collect(
      Readable.from([ct.subarray(0, 7), ct.subarray(7)]).pipe(createDecryptStream({ keyring })),
    );
    expect(seq.equals(plaintext)).toBe(true);
  });

  test('default frame length, several frames', async () => {
    const plaintext = randomBytes(3 * DEFAULT_FRAME_LENGTH + 17);
    const ct = await encryptBuffer(keyring, plaintext, { chunk: 100_000 });
    const msg = await openMessage(bufferSource(ct), { keyring });
    expect(msg.info.frameLength).toBe(DEFAULT_FRAME_LENGTH);
    expect(ct.length).toBe(ciphertextLength(msg.info.headerLength, DEFAULT_FRAME_LENGTH, plaintext.length));
    expect((await collect(msg.stream())).equals(plaintext)).toBe(true);
  });

  test('encrypt stream exposes message id, frame and header length', async () => {
    const enc = await createEncryptStream({ keyring, context, frameLength: F });
    const ct = await collect(Readable.from([Buffer.from('hello')]).pipe(enc));
    const { info, headerLength } = parseHeader(ct);
    expect(info.messageId.equals(enc.messageId)).toBe(true);
    expect(headerLength).toBe(enc.headerLength);
    expect(enc.frameLength).toBe(F);
    expect(ct.length).toBe(ciphertextLength(enc.headerLength, F, 5));
  });

  test('parseHeader reads the header without a key', async () => {
    const ct = await encryptBuffer(keyring, randomBytes(10), { frameLength: F, context });
    const { info, headerLength } = parseHeader(ct);
    expect(info).toMatchObject({ version: 2, suiteId: 0x0478, frameLength: F, context, headerLength });
    expect(info.encryptedDataKeys).toHaveLength(1);
    expect(info.encryptedDataKeys[0]!.providerId).toBe('custody-local');
    expect(info.encryptedDataKeys[0]!.providerInfo.startsWith('tenant/t1')).toBe(true);
    expect(() => parseHeader(ct.subarray(0, headerLength - 1))).toThrow(/truncated/);
  });

  test('inspectMessage authenticates everything and reports the info', async () => {
    const ct = await encryptBuffer(keyring, randomBytes(2 * F + 5), { frameLength: F, context });
    const info = await inspectMessage(bufferSource(ct), { keyring });
    expect(info.plaintextLength).toBe(2 * F + 5);
    expect(info.context).toEqual(context);
  });

  test('fileSource reads ranges of a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'custody-crypto-'));
    try {
      const plaintext = randomBytes(4 * F + 1);
      const path = join(dir, 'm.esdk');
      await writeFile(path, await encryptBuffer(keyring, plaintext, { frameLength: F }));
      const msg = await openMessage(await fileSource(path), { keyring });
      const part = await collect(msg.stream({ start: F - 3, end: 2 * F + 3 }));
      expect(part.equals(plaintext.subarray(F - 3, 2 * F + 4))).toBe(true);
      await expect(fileSource(join(dir, 'missing'))).rejects.toThrow();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('frame AAD matches the SDK serializer', () => {
    const { messageAAD, messageAADContentString } = aadFactory((s: string) => Buffer.from(s, 'utf8'));
    const id = randomBytes(32);
    for (const [final, seq, len] of [
      [false, 1, F],
      [true, 7, 0],
      [true, 0xfffffffe, 123],
    ] as const) {
      const label = messageAADContentString({ contentType: ContentType.FRAMED_DATA, isFinalFrame: final });
      expect(frameAad(id, seq, len, final).equals(Buffer.from(messageAAD(id, label, seq, len)))).toBe(true);
    }
  });
});
