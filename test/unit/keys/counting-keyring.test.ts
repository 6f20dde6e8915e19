import { randomBytes } from 'node:crypto';
import { AlgorithmSuiteIdentifier, buildClient, CommitmentPolicy } from '@aws-crypto/client-node';
import { describe, expect, it } from 'vitest';
import { LocalKeyProvider } from '../../../src/keys/local/local-key-provider.js';
import { CountingKeyring } from '../../support/counting-keyring.js';

describe('CountingKeyring', () => {
  it('counts wraps and unwraps and delegates them to the inner keyring', async () => {
    const esdk = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
    const suiteId = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;
    const inner = new LocalKeyProvider(randomBytes(32), 'acme').keyring();
    const counting = new CountingKeyring(inner);
    const encryptionContext = { 'custody:tenant': 'acme', 'custody:recording': 'rec_1' };

    const a = await esdk.encrypt(counting, 'one', { suiteId, encryptionContext });
    await esdk.encrypt(counting, 'two', { suiteId, encryptionContext });
    expect(counting.encryptCalls).toBe(2);
    expect(counting.decryptCalls).toBe(0);

    // Encrypted through the counter, decrypted by the inner keyring alone: it really delegated.
    expect((await esdk.decrypt(inner, a.result)).plaintext.toString()).toBe('one');
    expect((await esdk.decrypt(counting, a.result)).plaintext.toString()).toBe('one');
    expect(counting.decryptCalls).toBe(1);

    counting.reset();
    expect([counting.encryptCalls, counting.decryptCalls]).toEqual([0, 0]);
  });
});
