import type { KeyringNode } from '@aws-crypto/material-management-node';

/**
 * A tenant's wrapping key, seen through the AWS Encryption SDK's keyring abstraction.
 *
 * Why a keyring: the object format is the ESDK message format, so whatever wraps the
 * data key (a local raw AES key, AWS KMS, Azure Key Vault) must be a keyring for the
 * tenant to decrypt with AWS's own tools. One provider instance serves one storage
 * version of one tenant; the registry builds it from the validated storage config.
 */
export interface KeyProvider {
  /** `local`, `aws-kms`, `azure-keyvault`: what the tenant registered. */
  readonly kind: string;
  /**
   * Stable identifier of the wrapping key (and version where the provider has one),
   * recorded on every recording it wraps so old recordings stay readable after rotation.
   */
  readonly keyId: string;
  /** The keyring that wraps (on encrypt) and unwraps (on decrypt) data keys. */
  keyring(): KeyringNode;
  /**
   * Optional: checks the key exists and is usable for wrapping (state, usage, spec), so
   * the registration handshake can say *why* a key is unusable before the first wrap.
   * Rejects with `KeyProviderError`.
   */
  check?(): Promise<void>;
  /**
   * Optional: the key's health as the periodic key-health check sees it (state as the
   * key service reports it, plus one test wrap). Never rejects: a failure to ask is
   * `unreachable`, so a network blip is not mistaken for a revoked key.
   */
  health?(): Promise<KeyHealth>;
}

/** Where a tenant's key stands; everything but `ok` (and `unreachable`) pauses its transfers. */
export type KeyHealthState =
  | 'ok'
  | 'disabled'
  | 'pending-deletion'
  | 'expired'
  | 'access-denied'
  | 'not-found'
  | 'unreachable';

export interface KeyHealth {
  state: KeyHealthState;
  /** The key service's code (`KMSInvalidStateException`, `KeyDisabled`, ...): what a blocked transfer shows. */
  code?: string;
  /** ISO 8601; only for `pending-deletion`. */
  deletionDate?: string;
}

/** Builds the key provider for one tenant from its (validated) storage configuration. */
export interface KeyProviderFactory<C = unknown> {
  readonly kind: string;
  create(tenantId: string, config: C): Promise<KeyProvider>;
}
