import {
  type EncryptedDataKey,
  KeyringNode,
  KeyringTraceFlag,
  type NodeDecryptionMaterial,
  type NodeEncryptionMaterial,
  unwrapDataKey,
} from '@aws-crypto/material-management-node';
import type { EncryptionContext } from './types.js';

/**
 * One wrap, two messages: a recording's metadata sidecar is encrypted under the SAME
 * data key and encrypted data keys as its audio, so it costs no second key-provider call
 * (one KMS GenerateDataKey / one Key Vault wrapKey per recording) and the tenant's key
 * opens it exactly like the audio (one unwrap).
 *
 * This is what the ESDK's own caching CMM does when it reuses a data key across
 * messages: each message has its own random message id, and suite 0x0478 derives the
 * frame key and the key commitment with HKDF from the data key AND the message id, so
 * the two messages never share a content key or a nonce space. Like the caching CMM,
 * reuse is only valid under the same encryption context: keyrings bind their EDKs to it
 * (KMS passes it to GenerateDataKey/Decrypt, raw AES uses it as the wrap's AAD), so a
 * sidecar under a different context would not unwrap. The replay keyring refuses that.
 *
 * `CapturingKeyring` wraps the tenant keyring for one message and keeps a copy of the
 * plaintext data key and the EDKs it produced; `replayKeyring` hands them to further
 * messages without calling the tenant keyring. The caller must `dispose()` (zero) the
 * captured key as soon as the last message is encrypted.
 */

export interface CapturedMaterials {
  readonly context: EncryptionContext;
  readonly encryptedDataKeys: readonly EncryptedDataKey[];
  /** A keyring that sets this data key and these EDKs on encrypt (no provider call). */
  replayKeyring(): KeyringNode;
  /** Zeroes the captured data key; replaying afterwards throws. */
  dispose(): void;
}

const sameContext = (a: EncryptionContext, b: EncryptionContext) => {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
};

class ReplayKeyring extends KeyringNode {
  constructor(private readonly captured: Captured) {
    super();
  }

  override async _onEncrypt(material: NodeEncryptionMaterial): Promise<NodeEncryptionMaterial> {
    const { dataKey, context, edks } = this.captured;
    if (!dataKey) throw new Error('the captured data key was already disposed');
    if (!sameContext(material.encryptionContext, context)) {
      throw new Error('a captured data key is only reused under the encryption context it was wrapped for');
    }
    // A copy: the message's helper zeroes the material's key when the message is done.
    material.setUnencryptedDataKey(Uint8Array.from(dataKey), {
      keyNamespace: 'custody',
      keyName: 'shared-data-key',
      flags: KeyringTraceFlag.WRAPPING_KEY_GENERATED_DATA_KEY,
    });
    for (const edk of edks)
      material.addEncryptedDataKey(edk, KeyringTraceFlag.WRAPPING_KEY_ENCRYPTED_DATA_KEY);
    return material;
  }

  override async _onDecrypt(
    _material: NodeDecryptionMaterial,
    _edks: EncryptedDataKey[],
  ): Promise<NodeDecryptionMaterial> {
    throw new Error('a replay keyring only encrypts');
  }
}

interface Captured {
  dataKey: Uint8Array | undefined;
  context: EncryptionContext;
  edks: EncryptedDataKey[];
}

/** Encrypt-only: passes the first onEncrypt to the tenant keyring and keeps what it produced. */
export class CapturingKeyring extends KeyringNode {
  #captured: Captured | undefined;

  constructor(private readonly inner: KeyringNode) {
    super();
  }

  override async _onEncrypt(material: NodeEncryptionMaterial): Promise<NodeEncryptionMaterial> {
    if (this.#captured) throw new Error('a capturing keyring serves one message');
    const out = (await this.inner.onEncrypt(material)) as NodeEncryptionMaterial;
    this.#captured = {
      dataKey: Uint8Array.from(unwrapDataKey(out.getUnencryptedDataKey())),
      context: { ...out.encryptionContext },
      edks: [...out.encryptedDataKeys],
    };
    return out;
  }

  override async _onDecrypt(
    _material: NodeDecryptionMaterial,
    _edks: EncryptedDataKey[],
  ): Promise<NodeDecryptionMaterial> {
    throw new Error('a capturing keyring only encrypts');
  }

  /** What the first message was encrypted with; throws before that message was started. */
  materials(): CapturedMaterials {
    const captured = this.#captured;
    if (!captured) throw new Error('no data key captured yet');
    return {
      context: captured.context,
      encryptedDataKeys: captured.edks,
      replayKeyring: () => new ReplayKeyring(captured),
      dispose() {
        captured.dataKey?.fill(0);
        captured.dataKey = undefined;
      },
    };
  }

  /** Zeroes the captured key (if any): for paths that end before `materials()` is used. */
  dispose(): void {
    if (this.#captured?.dataKey) {
      this.#captured.dataKey.fill(0);
      this.#captured.dataKey = undefined;
    }
  }
}
