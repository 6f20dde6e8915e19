import { hkdfSync } from 'node:crypto';
import type { KeyringNode } from '@aws-crypto/material-management-node';
import { RawAesKeyringNode, RawAesWrappingSuiteIdentifier } from '@aws-crypto/raw-aes-keyring-node';

/** What a service key is for; each purpose gets an independent key from `CUSTODY_SECRETS_KEY`. */
export type ServiceKeyPurpose = 'spool' | 'tenant-secrets' | 'certificates';

/** ESDK key namespace / name of the spool keyring, recorded in every spooled object's header. */
export const SPOOL_KEY_NAMESPACE = 'custody-spool';
export const SPOOL_KEY_NAME = 'spool/v1';

/**
 * `HKDF-SHA256(ikm = secrets key, salt = empty, info = "custody/service/v1/<purpose>", 32 bytes)`.
 * Separate keys per purpose so a flaw in one use (say, the spool format) never exposes
 * the other; the `v1` leaves room to rotate the derivation.
 */
export function deriveServiceKey(secretsKey: Buffer, purpose: ServiceKeyPurpose): Buffer {
  if (secretsKey.length !== 32) throw new Error(`secrets key must be 32 bytes, got ${secretsKey.length}`);
  const info = Buffer.from(`custody/service/v1/${purpose}`, 'utf8');
  return Buffer.from(hkdfSync('sha256', secretsKey, Buffer.alloc(0), info, 32));
}

/**
 * The keyring of the spool, where received recordings wait (encrypted, in the same
 * message format as tenant objects) until they are transferred to the tenant's storage.
 */
export function spoolKeyring(secretsKey: Buffer): KeyringNode {
  const key = deriveServiceKey(secretsKey, 'spool');
  try {
    return new RawAesKeyringNode({
      keyNamespace: SPOOL_KEY_NAMESPACE,
      keyName: SPOOL_KEY_NAME,
      unencryptedMasterKey: key,
      wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
    });
  } finally {
    key.fill(0); // the keyring keeps it in a KeyObject; no loose copy on the heap
  }
}
