import type { KeyringNode } from '@aws-crypto/material-management-node';
import type { TokenCredential } from '@azure/identity';
import type { KeyVaultKey } from '@azure/keyvault-keys';
import { KeyProviderError } from '../../errors.js';
import { healthOfError } from '../health.js';
import type { KeyHealth, KeyProvider, KeyProviderFactory } from '../key-provider.js';
import type { AzureKeyVaultClientOptions } from './client-options.js';
import { AzureKeyVaultKeyring, unsupportedKeyType, WRAP_ALGORITHMS } from './keyring.js';

/** A tenant's `azure-keyvault` key configuration. */
export interface AzureKeyVaultKeyConfig {
  /** The Key Vault key URL, with or without a version. */
  keyId: string;
  /** The identity the service uses for the tenant's vault (e.g. a service principal). */
  credential: TokenCredential;
}

export interface AzureKeyVaultKeyProviderFactoryOptions {
  /** For both Key Vault clients: `disableChallengeResourceVerification`, `agent`, `retryOptions`, ... */
  clientOptions?: AzureKeyVaultClientOptions;
}

/** Why a fetched key cannot wrap recordings, or undefined when it can. */
function keyProblem(key: KeyVaultKey, now: Date): { code: string; what: string } | undefined {
  const { enabled, expiresOn, notBefore } = key.properties;
  if (enabled === false) return { code: 'KeyDisabled', what: 'is disabled; enable it' };
  if (expiresOn && expiresOn <= now) {
    return {
      code: 'KeyExpired',
      what: `expired at ${expiresOn.toISOString()}; set a later expiration date or rotate the key`,
    };
  }
  if (notBefore && notBefore > now) {
    return {
      code: 'KeyNotYetValid',
      what: `is not valid before ${notBefore.toISOString()}; change its activation date`,
    };
  }
  const ops = key.keyOperations ?? [];
  const missing = (['wrapKey', 'unwrapKey'] as const).filter((op) => !ops.includes(op));
  if (missing.length) {
    return {
      code: 'KeyOperationNotPermitted',
      what: `does not permit ${missing.join(' and ')}; allow them in the key's permitted operations`,
    };
  }
  return undefined;
}

/**
 * One tenant's Azure Key Vault key. The keyring (see `AzureKeyVaultKeyring`) makes one
 * `wrapKey` per message and one `unwrapKey` per decryption, always in the vault, so the
 * tenant can revoke access by disabling the key or removing the role assignment.
 * `keyId` is the versioned key id once known (after `check()` or a wrap).
 */
export class AzureKeyVaultKeyProvider implements KeyProvider {
  readonly kind = 'azure-keyvault';
  readonly #keyring: AzureKeyVaultKeyring;

  constructor(config: AzureKeyVaultKeyConfig, clientOptions?: AzureKeyVaultClientOptions) {
    this.#keyring = new AzureKeyVaultKeyring({
      keyId: config.keyId,
      credential: config.credential,
      clientOptions,
    });
  }

  get keyId(): string {
    return this.#keyring.keyId;
  }

  keyring(): KeyringNode {
    return this.#keyring;
  }

  /**
   * The handshake's `get-key` step: the key exists, the identity may read it, it is
   * enabled, within its validity period, permits wrapKey and unwrapKey, and is of a type
   * we wrap with. A versionless key id is pinned to the version found.
   */
  async check(): Promise<void> {
    const key = await this.#keyring.getKey();
    const keyId = key.id ?? this.#keyring.key.keyId;
    const problem = keyProblem(key, new Date());
    if (problem)
      throw new KeyProviderError('tenant', problem.code, `Azure Key Vault key ${keyId} ${problem.what}`);
    const keyType = String(key.keyType);
    if (!WRAP_ALGORITHMS[keyType]) throw unsupportedKeyType(keyId, keyType);
    this.#keyring.pin(key);
  }

  /**
   * get-key for the attributes (enabled, expiry; a disabled key answers 403 KeyDisabled),
   * then one test wrapKey: a role assignment removed since registration shows only there.
   */
  async health(): Promise<KeyHealth> {
    let key: KeyVaultKey;
    try {
      key = await this.#keyring.getKey();
    } catch (err) {
      return healthOfError(err);
    }
    const problem = keyProblem(key, new Date());
    if (problem) return { state: problem.code === 'KeyExpired' ? 'expired' : 'disabled', code: problem.code };
    if (!WRAP_ALGORITHMS[String(key.keyType)]) return { state: 'disabled', code: 'UnsupportedKeyType' };
    try {
      await this.#keyring.probeWrap();
    } catch (err) {
      return healthOfError(err);
    }
    return { state: 'ok' };
  }
}

/** Builds `azure-keyvault` key providers with shared client options. */
export class AzureKeyVaultKeyProviderFactory implements KeyProviderFactory<AzureKeyVaultKeyConfig> {
  readonly kind = 'azure-keyvault';

  constructor(private readonly options: AzureKeyVaultKeyProviderFactoryOptions = {}) {}

  async create(_tenantId: string, config: AzureKeyVaultKeyConfig): Promise<KeyProvider> {
    return new AzureKeyVaultKeyProvider(config, this.options.clientOptions);
  }
}
