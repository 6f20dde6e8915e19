import {
  type EncryptedDataKey,
  KeyringNode,
  type NodeDecryptionMaterial,
  type NodeEncryptionMaterial,
} from '@aws-crypto/client-node';

/**
 * Wraps a keyring and counts how often it is asked to wrap (`encryptCalls`) and unwrap
 * (`decryptCalls`) data keys: for AWS KMS or Key Vault each is a billed, rate-limited
 * call, so tests assert on these counts (data-key caching, one wrap per recording).
 * Decrypts the ESDK answers without the keyring (material already holds a key) are not counted.
 */
export class CountingKeyring extends KeyringNode {
  encryptCalls = 0;
  decryptCalls = 0;

  constructor(readonly inner: KeyringNode) {
    super();
  }

  async _onEncrypt(material: NodeEncryptionMaterial): Promise<NodeEncryptionMaterial> {
    this.encryptCalls++;
    return (await this.inner.onEncrypt(material)) as NodeEncryptionMaterial;
  }

  async _onDecrypt(
    material: NodeDecryptionMaterial,
    encryptedDataKeys: EncryptedDataKey[],
  ): Promise<NodeDecryptionMaterial> {
    this.decryptCalls++;
    return (await this.inner.onDecrypt(material, encryptedDataKeys)) as NodeDecryptionMaterial;
  }

  reset(): void {
    this.encryptCalls = 0;
    this.decryptCalls = 0;
  }
}
