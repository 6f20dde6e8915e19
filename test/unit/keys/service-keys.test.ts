import { hkdfSync, randomBytes } from 'node:crypto';
import { AlgorithmSuiteIdentifier, buildClient, CommitmentPolicy } from '@aws-crypto/client-node';
import { describe, expect, it } from 'vitest';
import { deriveServiceKey, spoolKeyring } from '../../../src/keys/service-keys.js';

const secretsKey = randomBytes(32);

describe('deriveServiceKey', () => {
  it('is HKDF-SHA256(secrets key, salt = empty, info = "custody/service/v1/<purpose>")', () => {
    for (const purpose of ['spool', 'tenant-secrets'] as const) {
      const direct = hkdfSync('sha256', secretsKey, Buffer.alloc(0), `custody/service/v1/${purpose}`, 32);
      expect(deriveServiceKey(secretsKey, purpose).equals(Buffer.from(direct))).toBe(true);
    }
  });

  it('gives each purpose its own key, none equal to the secrets key', () => {
    const spool = deriveServiceKey(secretsKey, 'spool');
    const secrets = deriveServiceKey(secretsKey, 'tenant-secrets');
    expect(spool.equals(secrets)).toBe(false);
    expect(spool.equals(secretsKey)).toBe(false);
  });

  it('refuses a secrets key that is not 32 bytes', () => {
    expect(() => deriveServiceKey(Buffer.alloc(16), 'spool')).toThrow(/32 bytes/);
  });
});

describe('spoolKeyring', () => {
  const esdk = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  const suiteId = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;
  const encryptionContext = { 'custody:tenant': 'acme', 'custody:recording': 'rec_1' };

  it('round-trips under custody-spool / spool/v1, from a keyring rebuilt after a restart', async () => {
    const { result, messageHeader } = await esdk.encrypt(spoolKeyring(secretsKey), 'audio', {
      suiteId,
      encryptionContext,
    });
    expect(messageHeader.encryptedDataKeys[0]?.providerId).toBe('custody-spool');
    expect(messageHeader.encryptedDataKeys[0]?.providerInfo.startsWith('spool/v1')).toBe(true);
    expect((await esdk.decrypt(spoolKeyring(secretsKey), result)).plaintext.toString()).toBe('audio');
  });

  it('cannot be read with another secrets key', async () => {
    const { result } = await esdk.encrypt(spoolKeyring(secretsKey), 'audio', { suiteId, encryptionContext });
    await expect(esdk.decrypt(spoolKeyring(randomBytes(32)), result)).rejects.toThrow();
  });

  it('leaves the secrets key it was given intact', () => {
    const copy = Buffer.from(secretsKey);
    spoolKeyring(copy);
    expect(copy.equals(secretsKey)).toBe(true);
  });
});
