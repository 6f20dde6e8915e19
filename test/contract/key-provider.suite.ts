import { randomBytes } from 'node:crypto';
import { AlgorithmSuiteIdentifier, buildClient, CommitmentPolicy } from '@aws-crypto/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KeyProvider } from '../../src/keys/key-provider.js';

/** Fresh providers for one test: two tenants, and a way to build the first one again. */
export interface KeyProviderFixture {
  /** The tenant's provider under test. */
  provider: KeyProvider;
  /** Another tenant's provider of the same kind: it must not unwrap the first tenant's keys. */
  otherTenantProvider: KeyProvider;
  /** Tenant ids, used for the encryption context (key policies may condition on it). */
  tenantId: string;
  otherTenantId: string;
  /** A new instance for the same tenant and configuration, as after a restart. */
  reopen(): Promise<KeyProvider>;
  /**
   * What the provider documents its wrapped keys carry in the ESDK message header: the
   * `providerId`, and the `providerInfo` exactly (a string) or by pattern (raw AES key
   * names are followed by binary IV data).
   */
  expectedDataKey: { providerId: string; providerInfo: string | RegExp };
  cleanup(): Promise<void>;
}

export type KeyProviderSetup = () => Promise<KeyProviderFixture>;

const esdk = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
const suiteId = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;

function contextFor(tenantId: string): Record<string, string> {
  return { 'custody:tenant': tenantId, 'custody:recording': `rec_${randomBytes(8).toString('hex')}` };
}

/**
 * The behaviour every `KeyProvider` (local, AWS KMS, Azure Key Vault) must show, checked
 * end to end through the AWS Encryption SDK exactly as recordings are encrypted.
 */
export function keyProviderContract(name: string, setup: KeyProviderSetup): void {
  describe(`KeyProvider contract: ${name}`, () => {
    let fx: KeyProviderFixture;

    beforeEach(async () => {
      fx = await setup();
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('wraps a fresh data key on encrypt and unwraps it on decrypt', async () => {
      const plaintext = randomBytes(4096);
      const encryptionContext = contextFor(fx.tenantId);
      const { result } = await esdk.encrypt(fx.provider.keyring(), plaintext, { suiteId, encryptionContext });
      const { plaintext: back, messageHeader } = await esdk.decrypt(fx.provider.keyring(), result);
      expect(Buffer.from(back).equals(plaintext)).toBe(true);
      expect(messageHeader.encryptionContext).toMatchObject(encryptionContext);
    });

    it('uses a different data key for every message', async () => {
      const encryptionContext = contextFor(fx.tenantId);
      const a = await esdk.encrypt(fx.provider.keyring(), 'same', { suiteId, encryptionContext });
      const b = await esdk.encrypt(fx.provider.keyring(), 'same', { suiteId, encryptionContext });
      const edkA = a.messageHeader.encryptedDataKeys[0]?.encryptedDataKey;
      const edkB = b.messageHeader.encryptedDataKeys[0]?.encryptedDataKey;
      expect(edkA).toBeDefined();
      expect(Buffer.from(edkA ?? []).equals(Buffer.from(edkB ?? []))).toBe(false);
    });

    it('records the documented providerId and providerInfo on the wrapped key', async () => {
      const { messageHeader } = await esdk.encrypt(fx.provider.keyring(), 'x', {
        suiteId,
        encryptionContext: contextFor(fx.tenantId),
      });
      expect(messageHeader.encryptedDataKeys).toHaveLength(1);
      const edk = messageHeader.encryptedDataKeys[0];
      expect(edk?.providerId).toBe(fx.expectedDataKey.providerId);
      const info = fx.expectedDataKey.providerInfo;
      if (typeof info === 'string') expect(edk?.providerInfo).toBe(info);
      else expect(edk?.providerInfo).toMatch(info);
    });

    it("another tenant's keyring cannot unwrap the data key", async () => {
      const { result } = await esdk.encrypt(fx.provider.keyring(), randomBytes(100), {
        suiteId,
        encryptionContext: contextFor(fx.tenantId),
      });
      await expect(esdk.decrypt(fx.otherTenantProvider.keyring(), result)).rejects.toThrow();
      expect(fx.otherTenantProvider.keyId).not.toBe(fx.provider.keyId);
    });

    it('keeps a stable keyId across instances, and a new instance decrypts old messages', async () => {
      const plaintext = randomBytes(100);
      const { result } = await esdk.encrypt(fx.provider.keyring(), plaintext, {
        suiteId,
        encryptionContext: contextFor(fx.tenantId),
      });
      const again = await fx.reopen();
      expect(again.keyId).toBe(fx.provider.keyId);
      expect(again.kind).toBe(fx.provider.kind);
      expect(fx.provider.keyId.length).toBeGreaterThan(0);
      const { plaintext: back } = await esdk.decrypt(again.keyring(), result);
      expect(Buffer.from(back).equals(plaintext)).toBe(true);
    });
  });
}
