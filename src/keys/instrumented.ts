import {
  type EncryptedDataKey,
  KeyringNode,
  type NodeDecryptionMaterial,
  type NodeEncryptionMaterial,
} from '@aws-crypto/material-management-node';
import type { KeyProvider } from './key-provider.js';

export type KeyCallObserver = (kind: string, operation: 'wrap' | 'unwrap', outcome: 'ok' | 'error') => void;

/** Reports every wrap and unwrap the tenant's key performs (billed, rate-limited calls on KMS). */
class ObservedKeyring extends KeyringNode {
  constructor(
    private readonly inner: KeyringNode,
    private readonly kind: string,
    private readonly observe: KeyCallObserver,
  ) {
    super();
  }

  override async _onEncrypt(material: NodeEncryptionMaterial): Promise<NodeEncryptionMaterial> {
    try {
      const out = (await this.inner.onEncrypt(material)) as NodeEncryptionMaterial;
      this.observe(this.kind, 'wrap', 'ok');
      return out;
    } catch (err) {
      this.observe(this.kind, 'wrap', 'error');
      throw err;
    }
  }

  override async _onDecrypt(
    material: NodeDecryptionMaterial,
    edks: EncryptedDataKey[],
  ): Promise<NodeDecryptionMaterial> {
    try {
      const out = (await this.inner.onDecrypt(material, edks)) as NodeDecryptionMaterial;
      this.observe(this.kind, 'unwrap', out.hasValidKey() ? 'ok' : 'error');
      return out;
    } catch (err) {
      this.observe(this.kind, 'unwrap', 'error');
      throw err;
    }
  }
}

/** The same provider, its keyring observed. */
export function observeKeyProvider(provider: KeyProvider, observe: KeyCallObserver): KeyProvider {
  const keyring = new ObservedKeyring(provider.keyring(), provider.kind, observe);
  const observed: KeyProvider = {
    kind: provider.kind,
    // A getter: some providers learn their exact key id (Key Vault's version) on `check()`.
    get keyId() {
      return provider.keyId;
    },
    keyring: () => keyring,
  };
  if (provider.check) observed.check = () => provider.check!();
  if (provider.health) observed.health = () => provider.health!();
  return observed;
}
