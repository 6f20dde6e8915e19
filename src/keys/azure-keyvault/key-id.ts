import { KeyProviderError } from '../../errors.js';

/** A Key Vault key identifier: `https://<vault>/keys/<name>[/<version>]`. */
export interface KeyVaultKeyId {
  /** `https://<vault host>[:port]`, lower-case host, no trailing slash. */
  vaultUrl: string;
  name: string;
  version: string | undefined;
  /** The normalised identifier (with the version when there is one). */
  keyId: string;
}

// Key Vault's own rules: names are 1-127 letters, digits and dashes; versions are
// alphanumeric (32 hex characters in practice).
const NAME = /^[0-9A-Za-z-]{1,127}$/;
const VERSION = /^[0-9A-Za-z]{1,64}$/;

/** Parses a key id, or returns undefined. Only https: the credential's token goes to this host. */
export function parseKeyVaultKeyId(text: string): KeyVaultKeyId | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' || url.username || url.password || url.search || url.hash) return undefined;
  const segments = url.pathname.replace(/\/$/, '').split('/').slice(1);
  const [collection, name, version, ...rest] = segments;
  if (collection !== 'keys' || !name || !NAME.test(name) || rest.length) return undefined;
  if (version !== undefined && !VERSION.test(version)) return undefined;
  const vaultUrl = url.origin;
  return {
    vaultUrl,
    name,
    version,
    keyId: `${vaultUrl}/keys/${name}${version ? `/${version}` : ''}`,
  };
}

/** As `parseKeyVaultKeyId`, throwing `KeyProviderError('tenant', 'InvalidKeyVaultKeyId')`. */
export function requireKeyVaultKeyId(text: string): KeyVaultKeyId {
  const parsed = parseKeyVaultKeyId(text);
  if (!parsed) {
    throw new KeyProviderError(
      'tenant',
      'InvalidKeyVaultKeyId',
      `${JSON.stringify(text)} is not an Azure Key Vault key URL (https://<vault>.vault.azure.net/keys/<name>[/<version>])`,
    );
  }
  return parsed;
}

/**
 * Whether `other` names a version of `key` (same vault, same key name; Key Vault names
 * are case-insensitive). Decryption only ever sends a token to a vault that passes this,
 * whatever a message header claims.
 */
export function isVersionOf(other: KeyVaultKeyId, key: KeyVaultKeyId): boolean {
  return (
    other.version !== undefined &&
    other.vaultUrl === key.vaultUrl &&
    other.name.toLowerCase() === key.name.toLowerCase()
  );
}

/** The id of one version of `key`. */
export function withVersion(key: KeyVaultKeyId, version: string): KeyVaultKeyId {
  return { ...key, version, keyId: `${key.vaultUrl}/keys/${key.name}/${version}` };
}
