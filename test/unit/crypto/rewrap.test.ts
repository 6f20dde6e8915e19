import { randomBytes } from 'node:crypto';
import { buildClient, CommitmentPolicy } from '@aws-crypto/client-node';
import { describe, expect, test } from 'vitest';
import { bufferSource, openMessage, parseHeader } from '../../../src/crypto/index.js';
import { decodeHeader } from '../../../src/crypto/header.js';
import { rewrapMessage } from '../../../src/crypto/rewrap.js';
import { CapturingKeyring } from '../../../src/crypto/shared-materials.js';
import { IntegrityError, KeyProviderError } from '../../../src/errors.js';
import { CountingKeyring, collect, encryptBuffer, rawKeyring } from './helpers.js';

const client = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
const context = { 'custody:tenant': 't1', 'custody:recording': 'r1' };
const F = 4096;

async function rewrapped(plaintext: Buffer, chunkSize?: number) {
  const oldRing = rawKeyring();
  const newRing = rawKeyring();
  const original = await encryptBuffer(oldRing, plaintext, { frameLength: F, context });
  const out = await rewrapMessage(bufferSource(original, { chunkSize }), {
    from: oldRing,
    to: newRing,
    expectedContext: context,
  });
  return { oldRing, newRing, original, out, bytes: await collect(out.stream()) };
}

describe('rewrap', () => {
  test.each([0, 1, F, 3 * F + 17])(
    '%i bytes: the official SDK decrypts with the new keyring only',
    async (n) => {
      const plaintext = randomBytes(n);
      const { oldRing, newRing, bytes, out } = await rewrapped(plaintext, 1000);
      expect(bytes.length).toBe(out.size);
      const { plaintext: back, messageHeader } = await client.decrypt(newRing, bytes);
      expect(back.equals(plaintext)).toBe(true);
      expect(messageHeader.encryptionContext).toEqual(context);
      await expect(client.decrypt(oldRing, bytes)).rejects.toThrow();
    },
  );

  test('frames are byte-identical; message id, context and frame length are kept', async () => {
    const { original, bytes, out } = await rewrapped(randomBytes(5 * F + 3));
    const before = parseHeader(original);
    const after = parseHeader(bytes);
    expect(out.bodyOffset).toBe(before.headerLength);
    expect(after.headerLength).toBe(out.header.length);
    expect(bytes.subarray(after.headerLength).equals(original.subarray(before.headerLength))).toBe(true);
    expect(after.info.messageId.equals(before.info.messageId)).toBe(true);
    expect(after.info.context).toEqual(before.info.context);
    expect(after.info.frameLength).toBe(before.info.frameLength);
    // The EDK list is new: same provider, a different wrapped key.
    expect(bytes.subarray(0, after.headerLength).equals(original.subarray(0, before.headerLength))).toBe(
      false,
    );
  });

  test('Custody’s ranged reader opens the rewrapped message with the new keyring', async () => {
    const plaintext = randomBytes(4 * F + 99);
    const { newRing, oldRing, bytes } = await rewrapped(plaintext);
    const opened = await openMessage(bufferSource(bytes), { keyring: newRing, expectedContext: context });
    expect(
      (await collect(opened.stream({ start: F - 5, end: 3 * F }))).equals(
        plaintext.subarray(F - 5, 3 * F + 1),
      ),
    ).toBe(true);
    await expect(openMessage(bufferSource(bytes), { keyring: oldRing })).rejects.toBeInstanceOf(
      KeyProviderError,
    );
  });

  test('exactly one unwrap with the old keyring and one wrap with the new', async () => {
    const oldRing = new CountingKeyring(rawKeyring());
    const newRing = new CountingKeyring(rawKeyring());
    const original = await encryptBuffer(oldRing, randomBytes(1000), { frameLength: F, context });
    oldRing.encrypts = 0;
    await rewrapMessage(bufferSource(original), { from: oldRing, to: newRing });
    expect([oldRing.decrypts, oldRing.encrypts, newRing.encrypts, newRing.decrypts]).toEqual([1, 0, 1, 0]);
  });

  test('refuses a context mismatch before any key call, a wrong source key, and a tampered header', async () => {
    const oldRing = new CountingKeyring(rawKeyring());
    const original = await encryptBuffer(oldRing, randomBytes(1000), { frameLength: F, context });
    const to = rawKeyring();
    await expect(
      rewrapMessage(bufferSource(original), {
        from: oldRing,
        to,
        expectedContext: { 'custody:recording': 'r2' },
      }),
    ).rejects.toBeInstanceOf(IntegrityError);
    expect(oldRing.decrypts).toBe(0);
    await expect(rewrapMessage(bufferSource(original), { from: rawKeyring(), to })).rejects.toBeInstanceOf(
      KeyProviderError,
    );
    // Flip one bit of the header tag: the header no longer authenticates.
    const { headerLength } = parseHeader(original);
    const tampered = Buffer.from(original);
    tampered[headerLength - 1]! ^= 1;
    await expect(rewrapMessage(bufferSource(tampered), { from: oldRing, to })).rejects.toBeInstanceOf(
      IntegrityError,
    );
  });

  test('a truncated object is refused before any key call', async () => {
    const oldRing = new CountingKeyring(rawKeyring());
    const original = await encryptBuffer(oldRing, randomBytes(3 * F), { frameLength: F, context });
    await expect(
      rewrapMessage(bufferSource(original.subarray(0, original.length - 7)), {
        from: oldRing,
        to: rawKeyring(),
      }),
    ).rejects.toBeInstanceOf(IntegrityError);
    expect(oldRing.decrypts).toBe(0);
  });

  test('a companion under the same data key is rewritten in the same unwrap and wrap; a stranger is refused', async () => {
    const oldRing = new CountingKeyring(rawKeyring());
    const newRing = new CountingKeyring(rawKeyring());
    // Audio and sidecar share one data key, as the transfer writes them.
    const capture = new CapturingKeyring(oldRing);
    const audio = await encryptBuffer(capture, randomBytes(2 * F + 5), { frameLength: F, context });
    const materials = capture.materials();
    const sidecar = await encryptBuffer(materials.replayKeyring(), Buffer.from('{"a":1}'), { context });
    materials.dispose();
    oldRing.encrypts = 0;
    const companion = decodeHeader(sidecar)!;
    const out = await rewrapMessage(bufferSource(audio), {
      from: oldRing,
      to: newRing,
      companions: [companion],
    });
    expect([oldRing.decrypts, newRing.encrypts]).toEqual([1, 1]);
    const moved = Buffer.concat([out.companionHeaders[0]!, sidecar.subarray(companion.headerLength)]);
    expect((await client.decrypt(newRing, moved)).plaintext.toString()).toBe('{"a":1}');
    await expect(client.decrypt(oldRing, moved)).rejects.toThrow();

    // A message under another data key is not a companion: refused, nothing wrapped.
    const stranger = decodeHeader(await encryptBuffer(oldRing, Buffer.from('x'), { context }))!;
    newRing.encrypts = 0;
    await expect(
      rewrapMessage(bufferSource(audio), { from: oldRing, to: newRing, companions: [stranger] }),
    ).rejects.toBeInstanceOf(IntegrityError);
    expect(newRing.encrypts).toBe(0);
  });
});
