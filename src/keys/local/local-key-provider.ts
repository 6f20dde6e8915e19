import { hkdfSync } from 'node:crypto';
import type { KeyringNode } from '@aws-crypto/material-management-node';
import { RawAesKeyringNode, RawAesWrappingSuiteIdentifier } from '@aws-crypto/raw-aes-keyring-node';
import type { KeyHealth, KeyProvider, KeyProviderFactory } from '../key-provider.js';
import { MASTER_KEY_BYTES } from './master-key.js';

/** ESDK key namespace (the encrypted data key's `providerId`) of every `local` tenant key. */
export const LOCAL_KEY_NAMESPACE = 'custody-local';

// Same pattern the API validates; checked again here because the tenant id becomes part
// of the HKDF info and the key name, and a mistake there silently yields another key.
const TENANT_ID = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

/**
 * The `local` provider needs nothing from the tenant's storage configuration: the key is
 * derived from the service's master key and the tenant id. Any config object is accepted.
 */
export type LocalKeyConfig = object;

/** ESDK key name (the start of the encrypted data key's `providerInfo`) of a tenant's key. */
export function localKeyName(tenantId: string): string {
  return `tenant/${tenantId}`;
}

/**
 * `HKDF-SHA256(ikm = master key, salt = empty, info = "custody/local-key/v1/" + tenantId, 32 bytes)`.
 * Part of the public contract: tenants (and `custody decrypt --local-key-file`) recompute it.
 */
export function deriveLocalTenantKey(masterKey: Buffer, tenantId: string): Buffer {
  if (masterKey.length !== MASTER_KEY_BYTES) {
    throw new Error(`local master key must be ${MASTER_KEY_BYTES} bytes, got ${masterKey.length}`);
  }
  if (!TENANT_ID.test(tenantId)) throw new Error(`invalid tenant id ${JSON.stringify(tenantId)}`);
  const info = Buffer.from(`custody/local-key/v1/${tenantId}`, 'utf8');
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), info, 32));
}

/**
 * One tenant's key under the `local` provider: a raw AES-256-GCM keyring whose
 * encrypted data keys carry `providerId = "custody-local"` and a `providerInfo` that
 * starts with `tenant/<tenantId>` (followed by the ESDK's tag length, IV length and IV).
 */
export class LocalKeyProvider implements KeyProvider {
  readonly kind = 'local';
  readonly keyId: string;
  readonly #keyring: KeyringNode;

  constructor(
    masterKey: Buffer,
    readonly tenantId: string,
  ) {
    const keyName = localKeyName(tenantId);
    this.keyId = `${LOCAL_KEY_NAMESPACE}/${keyName}`;
    const tenantKey = deriveLocalTenantKey(masterKey, tenantId);
    try {
      this.#keyring = new RawAesKeyringNode({
        keyNamespace: LOCAL_KEY_NAMESPACE,
        keyName,
        unencryptedMasterKey: tenantKey,
        wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
      });
    } finally {
      // The keyring keeps the key in a KeyObject; never leave a loose copy on the heap.
      tenantKey.fill(0);
    }
  }

  keyring(): KeyringNode {
    return this.#keyring;
  }

  /** Derived from the service's own master key: nothing the tenant can disable or revoke. */
  async health(): Promise<KeyHealth> {
    return { state: 'ok' };
  }
}

/** Builds `local` key providers; constructed once at start-up with the loaded master key. */
export class LocalKeyProviderFactory implements KeyProviderFactory<LocalKeyConfig> {
  readonly kind = 'local';
  readonly #masterKey: Buffer;

  constructor(masterKey: Buffer) {
    if (masterKey.length !== MASTER_KEY_BYTES) {
      throw new Error(`local master key must be ${MASTER_KEY_BYTES} bytes, got ${masterKey.length}`);
    }
    this.#masterKey = Buffer.from(masterKey);
  }

  async create(tenantId: string, _config: LocalKeyConfig): Promise<KeyProvider> {
    return new LocalKeyProvider(this.#masterKey, tenantId);
  }
}
