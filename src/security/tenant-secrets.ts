import { Readable } from 'node:stream';
import { RawAesKeyringNode, RawAesWrappingSuiteIdentifier } from '@aws-crypto/raw-aes-keyring-node';
import type { KeyringNode } from '@aws-crypto/material-management-node';
import { bufferSource, createEncryptStream, openMessage } from '../crypto/index.js';
import { deriveServiceKey } from '../keys/service-keys.js';

/** ESDK key namespace / name of the keyring sealing tenants' stored credentials. */
export const SECRETS_KEY_NAMESPACE = 'custody-secrets';
export const SECRETS_KEY_NAME = 'tenant-secrets/v1';

/**
 * Seals and opens the write-only credentials a tenant registers (an Azure service
 * principal's secret or certificate): an ESDK message, a fresh data key per secret,
 * wrapped by a key derived from `CUSTODY_SECRETS_KEY` for this purpose only. The
 * encryption context binds the tenant and storage version, so a sealed row copied to
 * another tenant or version does not open.
 */
export class TenantSecrets {
  readonly #keyring: KeyringNode;

  constructor(secretsKey: Buffer) {
    const key = deriveServiceKey(secretsKey, 'tenant-secrets');
    try {
      this.#keyring = new RawAesKeyringNode({
        keyNamespace: SECRETS_KEY_NAMESPACE,
        keyName: SECRETS_KEY_NAME,
        unencryptedMasterKey: key,
        wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
      });
    } finally {
      key.fill(0);
    }
  }

  /**
   * `purpose` is bound into the encryption context too, so a secret sealed for one use
   * (a webhook's signing secret) never opens as another (storage credentials). Default
   * `storage-secrets`: what every row sealed before the parameter existed carries.
   */
  async seal(
    tenantId: string,
    version: number,
    secrets: Record<string, unknown>,
    purpose = STORAGE_PURPOSE,
  ): Promise<Buffer> {
    const enc = await createEncryptStream({
      keyring: this.#keyring,
      context: context(tenantId, version, purpose),
    });
    return Buffer.concat(
      await Readable.from([Buffer.from(JSON.stringify(secrets), 'utf8')])
        .pipe(enc)
        .toArray(),
    );
  }

  async open(
    tenantId: string,
    version: number,
    sealed: Buffer,
    purpose = STORAGE_PURPOSE,
  ): Promise<Record<string, unknown>> {
    const opened = await openMessage(bufferSource(sealed), {
      keyring: this.#keyring,
      expectedContext: context(tenantId, version, purpose),
    });
    const plaintext = Buffer.concat(await opened.stream().toArray());
    try {
      return JSON.parse(plaintext.toString('utf8')) as Record<string, unknown>;
    } finally {
      plaintext.fill(0);
    }
  }
}

const STORAGE_PURPOSE = 'storage-secrets';

function context(tenantId: string, version: number, purpose: string): Record<string, string> {
  return {
    'custody:tenant': tenantId,
    'custody:purpose': purpose,
    'custody:version': String(version),
  };
}
