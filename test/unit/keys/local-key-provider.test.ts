import { hkdfSync, randomBytes } from 'node:crypto';
import { AlgorithmSuiteIdentifier, buildClient, CommitmentPolicy } from '@aws-crypto/client-node';
import { describe, expect, it } from 'vitest';
import {
  deriveLocalTenantKey,
  LocalKeyProvider,
  LocalKeyProviderFactory,
} from '../../../src/keys/local/local-key-provider.js';

const master = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');

describe('deriveLocalTenantKey', () => {
  it('is HKDF-SHA256(master, salt = empty, info = "custody/local-key/v1/" + tenant, 32 bytes)', () => {
    const direct = Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), 'custody/local-key/v1/acme', 32));
    expect(deriveLocalTenantKey(master, 'acme').equals(direct)).toBe(true);
    expect(deriveLocalTenantKey(master, 'acme')).toHaveLength(32);
  });

  it('pins the derivation with a known answer, so it can never drift silently', () => {
    // Computed independently of node:crypto, from RFC 5869 with Python's hmac module
    // (empty salt = 32 zero bytes): PRK = HMAC(salt, master); OKM = HMAC(PRK, info || 0x01).
    expect(deriveLocalTenantKey(master, 'acme').toString('hex')).toBe(KNOWN_ACME_KEY);
  });

  it('differs per tenant and per master key', () => {
    const a = deriveLocalTenantKey(master, 'acme');
    expect(a.equals(deriveLocalTenantKey(master, 'acme-corp'))).toBe(false);
    expect(a.equals(deriveLocalTenantKey(randomBytes(32), 'acme'))).toBe(false);
  });

  it.each(['', 'a', 'Acme', '-acme', 'acme-', 'ac/me', '../acme', 'a'.repeat(64)])(
    'refuses tenant id %j',
    (tenantId) => {
      expect(() => deriveLocalTenantKey(master, tenantId)).toThrow(/invalid tenant id/);
    },
  );

  it('refuses a master key that is not 32 bytes', () => {
    expect(() => deriveLocalTenantKey(Buffer.alloc(16), 'acme')).toThrow(/32 bytes/);
    expect(() => new LocalKeyProviderFactory(Buffer.alloc(31))).toThrow(/32 bytes/);
  });
});

describe('LocalKeyProvider', () => {
  it('names its key custody-local/tenant/<tenantId>', async () => {
    const provider = await new LocalKeyProviderFactory(master).create('acme', {});
    expect(provider.kind).toBe('local');
    expect(provider.keyId).toBe('custody-local/tenant/acme');
    expect(provider.keyring()).toBe(provider.keyring()); // built once
  });

  it('wraps under the derived tenant key, so tenant-side tools can decrypt with it alone', async () => {
    const esdk = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
    const suiteId = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;
    const provider = new LocalKeyProvider(master, 'acme');
    const context = { 'custody:tenant': 'acme', 'custody:recording': 'rec_1' };
    const { result } = await esdk.encrypt(provider.keyring(), 'hello', {
      suiteId,
      encryptionContext: context,
    });

    // Rebuild the keyring from nothing but the documented derivation.
    const { RawAesKeyringNode, RawAesWrappingSuiteIdentifier } = await import('@aws-crypto/client-node');
    const keyring = new RawAesKeyringNode({
      keyNamespace: 'custody-local',
      keyName: 'tenant/acme',
      unencryptedMasterKey: Buffer.from(
        hkdfSync('sha256', master, Buffer.alloc(0), 'custody/local-key/v1/acme', 32),
      ),
      wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
    });
    expect((await esdk.decrypt(keyring, result)).plaintext.toString()).toBe('hello');
  });

  it('does not consume the master key it was given', async () => {
    const copy = Buffer.from(master);
    await new LocalKeyProviderFactory(copy).create('acme', {});
    new LocalKeyProvider(copy, 'globex');
    expect(copy.equals(master)).toBe(true);
  });
});

const KNOWN_ACME_KEY = 'fce8d2f46d12cef8345e087c7e8cbb3225ad878767faf7e8889d251f6bf4cabd';
