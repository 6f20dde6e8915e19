import { randomBytes } from 'node:crypto';
import { KeyringNode } from '@aws-crypto/client-node';
import { describe, expect, test } from 'vitest';
import { KeyProviderError } from '../../../src/errors.js';
import { bufferSource, createEncryptStream, DataKeyCache, openMessage } from '../../../src/crypto/index.js';
import { collect, CountingKeyring, encryptBuffer, rawKeyring } from './helpers.js';

const key = randomBytes(32);

describe('key provider calls', () => {
  test('exactly one onEncrypt per createEncryptStream, none on decrypt', async () => {
    const kr = new CountingKeyring(rawKeyring(key));
    const enc = await createEncryptStream({ keyring: kr, context: { a: 'b' }, frameLength: 4096 });
    expect(kr.encrypts).toBe(1);
    enc.end(randomBytes(5 * 4096));
    await collect(enc);
    expect(kr.encrypts).toBe(1);
    expect(kr.decrypts).toBe(0);
  });

  test('two opens with one DataKeyCache unwrap once; without it, twice', async () => {
    const kr = new CountingKeyring(rawKeyring(key));
    const plaintext = randomBytes(10_000);
    const ct = await encryptBuffer(kr, plaintext, { frameLength: 4096 });
    const cache = new DataKeyCache({ ttlMs: 60_000 });
    const a = await openMessage(bufferSource(ct), { keyring: kr, cache });
    const b = await openMessage(bufferSource(ct), { keyring: kr, cache });
    expect(kr.decrypts).toBe(1);
    expect(cache.size).toBe(1);
    expect((await collect(b.stream({ start: 5000, end: 9999 }))).equals(plaintext.subarray(5000))).toBe(true);
    expect((await collect(a.stream())).equals(plaintext)).toBe(true);
    await openMessage(bufferSource(ct), { keyring: kr });
    await openMessage(bufferSource(ct), { keyring: kr });
    expect(kr.decrypts).toBe(3);
    cache.clear();
    expect(cache.size).toBe(0);
    await openMessage(bufferSource(ct), { keyring: kr, cache });
    expect(kr.decrypts).toBe(4);
  });

  test('concurrent opens share one unwrap', async () => {
    const kr = new CountingKeyring(rawKeyring(key));
    const ct = await encryptBuffer(kr, randomBytes(100), {});
    const cache = new DataKeyCache({ ttlMs: 60_000 });
    await Promise.all([1, 2, 3, 4].map(() => openMessage(bufferSource(ct), { keyring: kr, cache })));
    expect(kr.decrypts).toBe(1);
  });

  test('a cached key is only found again through the same keyring or scope', async () => {
    const kr1 = new CountingKeyring(rawKeyring(key));
    const kr2 = new CountingKeyring(rawKeyring(randomBytes(32)));
    const ct = await encryptBuffer(kr1, randomBytes(100), {});
    const cache = new DataKeyCache({ ttlMs: 60_000 });
    await openMessage(bufferSource(ct), { keyring: kr1, cache });
    // Another tenant's keyring presenting the same header must not get the cached key.
    await expect(openMessage(bufferSource(ct), { keyring: kr2, cache })).rejects.toBeInstanceOf(
      KeyProviderError,
    );
    // An explicit scope lets separate keyring instances of one key share entries.
    const kr3 = new CountingKeyring(rawKeyring(key));
    const kr4 = new CountingKeyring(rawKeyring(key));
    await openMessage(bufferSource(ct), { keyring: kr3, cache, cacheScope: 't1/k1' });
    await openMessage(bufferSource(ct), { keyring: kr4, cache, cacheScope: 't1/k1' });
    expect(kr3.decrypts + kr4.decrypts).toBe(1);
  });

  test('failed unwraps are not cached', async () => {
    const good = new CountingKeyring(rawKeyring(key));
    const ct = await encryptBuffer(good, randomBytes(100), {});
    const cache = new DataKeyCache({ ttlMs: 60_000 });
    const wrong = rawKeyring(randomBytes(32));
    await expect(openMessage(bufferSource(ct), { keyring: wrong, cache, cacheScope: 's' })).rejects.toThrow();
    expect(cache.size).toBe(0);
    await openMessage(bufferSource(ct), { keyring: good, cache, cacheScope: 's' });
    expect(good.decrypts).toBe(1);
  });

  test("a keyring's own KeyProviderError passes through unchanged", async () => {
    class Failing extends KeyringNode {
      override async _onEncrypt(): Promise<never> {
        throw new KeyProviderError('transient', 'KMS_UNAVAILABLE', 'kms down');
      }
      override async _onDecrypt(): Promise<never> {
        throw new KeyProviderError('tenant', 'KEY_DISABLED', 'key disabled');
      }
    }
    const failing = new Failing();
    await expect(createEncryptStream({ keyring: failing, context: {} })).rejects.toMatchObject({
      code: 'KMS_UNAVAILABLE',
      kind: 'transient',
    });
    const ct = await encryptBuffer(rawKeyring(key), randomBytes(10), {});
    await expect(openMessage(bufferSource(ct), { keyring: failing })).rejects.toMatchObject({
      code: 'KEY_DISABLED',
    });
  });

  test('reserved or non-string context is a caller error, not a key error', async () => {
    const kr = rawKeyring(key);
    await expect(
      createEncryptStream({ keyring: kr, context: { 'aws-crypto-public-key': 'x' } }),
    ).rejects.toThrow(TypeError);
    await expect(
      createEncryptStream({ keyring: kr, context: { n: 1 as unknown as string } }),
    ).rejects.toThrow(TypeError);
  });
});
