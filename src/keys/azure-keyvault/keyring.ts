import { randomBytes } from 'node:crypto';
import {
  EncryptedDataKey,
  KeyringNode,
  KeyringTraceFlag,
  type NodeDecryptionMaterial,
  type NodeEncryptionMaterial,
  unwrapDataKey,
} from '@aws-crypto/material-management-node';
import type { TokenCredential } from '@azure/identity';
import { CryptographyClient, KeyClient, type KeyVaultKey, type KeyWrapAlgorithm } from '@azure/keyvault-keys';
import { LRUCache } from 'lru-cache';
import { KeyProviderError } from '../../errors.js';
import { type AzureKeyVaultClientOptions, boundedClientOptions } from './client-options.js';
import { translateKeyVaultError } from './errors.js';
import {
  isVersionOf,
  type KeyVaultKeyId,
  parseKeyVaultKeyId,
  requireKeyVaultKeyId,
  withVersion,
} from './key-id.js';

/** ESDK key namespace (`providerId`) of data keys wrapped by Key Vault; `providerInfo` is the versioned key id. */
export const AZURE_KEYVAULT_PROVIDER_ID = 'azure-keyvault';

/** The wrapping algorithm per key type: RSA-OAEP-256 for RSA keys, AES key wrap for symmetric (HSM) keys. */
export const WRAP_ALGORITHMS: Readonly<Record<string, KeyWrapAlgorithm>> = {
  RSA: 'RSA-OAEP-256',
  'RSA-HSM': 'RSA-OAEP-256',
  oct: 'A256KW',
  'oct-HSM': 'A256KW',
};

export interface AzureKeyVaultKeyringInput {
  /** Key URL, with or without a version. Without, each wrap uses the key's current version. */
  keyId: string;
  credential: TokenCredential;
  clientOptions?: AzureKeyVaultClientOptions;
}

// Clients for versions seen in message headers; bounded because headers are input.
const MAX_VERSION_CLIENTS = 64;

/**
 * An ESDK keyring over one Azure Key Vault key.
 *
 * Encrypt: a fresh data key (unless an earlier keyring made one) wrapped by ONE Key Vault
 * `wrapKey` call; the EDK is `{ providerId: 'azure-keyvault', providerInfo: <versioned key
 * id Key Vault answered with> }`. Decrypt: the first EDK naming a version of this key (same
 * vault and name, any version, so recordings stay readable after rotation) is unwrapped by
 * one `unwrapKey` call on that exact version.
 *
 * All crypto happens in the vault: the CryptographyClients are built from a key reference
 * without key material, so the SDK has nothing to wrap with locally (it would for
 * RSA-OAEP/RSA1_5 with a fetched public key) and no cached attributes to second-guess the
 * vault with (it refuses unwrapping with an expired key locally, which Key Vault allows).
 * The algorithm follows the key type: known from one cached `getKey` when wrapping, and
 * from the wrapped key's length when unwrapping (see `algorithmOfWrapped`), so reading
 * needs only the `unwrapKey` permission and one call.
 */
export class AzureKeyVaultKeyring extends KeyringNode {
  readonly #key: KeyVaultKeyId;
  readonly #credential: TokenCredential;
  readonly #options: AzureKeyVaultClientOptions;
  readonly #keyClient: KeyClient;
  #wrapTarget: KeyVaultKeyId;
  #wrapClient: CryptographyClient;
  /** `''` (current version, for wrapping) or a version → its key type (a promise: one getKey at a time). */
  readonly #keyTypes = new LRUCache<string, Promise<string>>({ max: MAX_VERSION_CLIENTS });
  readonly #versionClients = new LRUCache<string, CryptographyClient>({ max: MAX_VERSION_CLIENTS });
  #lastWrappedKeyId: string | undefined;

  constructor(input: AzureKeyVaultKeyringInput) {
    super();
    this.#key = requireKeyVaultKeyId(input.keyId);
    this.#credential = input.credential;
    this.#options = boundedClientOptions(input.clientOptions);
    this.#keyClient = new KeyClient(this.#key.vaultUrl, this.#credential, this.#options);
    this.#wrapTarget = this.#key;
    this.#wrapClient = this.#cryptoClient(this.#key);
  }

  /** The configured key (version included only if configured or pinned). */
  get key(): KeyVaultKeyId {
    return this.#wrapTarget;
  }

  /** The versioned id of the last wrap, else the pinned/configured id. */
  get keyId(): string {
    return this.#lastWrappedKeyId ?? this.#wrapTarget.keyId;
  }

  /** `KeyClient.getKey` of the wrapping version (the current one when none is pinned). */
  async getKey(): Promise<KeyVaultKey> {
    try {
      return await this.#keyClient.getKey(this.#wrapTarget.name, { version: this.#wrapTarget.version ?? '' });
    } catch (err) {
      throw translateKeyVaultError(err, 'getKey', this.#wrapTarget.keyId);
    }
  }

  /** From now on wrap with this version of the key (what `check()` resolved). */
  pin(key: KeyVaultKey): void {
    const version = key.properties.version;
    if (!version) return;
    this.#wrapTarget = withVersion(this.#key, version);
    this.#wrapClient = this.#cryptoClient(this.#wrapTarget);
    if (key.keyType) this.#keyTypes.set(version, Promise.resolve(key.keyType));
  }

  /**
   * One `wrapKey` of a throw-away key with the wrapping version, recording nothing: may the
   * identity still wrap (the key-health check)? Rejects with `KeyProviderError`.
   */
  async probeWrap(): Promise<void> {
    const target = this.#wrapTarget;
    const algorithm = await this.#algorithm(target.version ?? '', target);
    const probe = randomBytes(32);
    try {
      await this.#wrapClient.wrapKey(algorithm, probe);
    } catch (err) {
      this.#keyTypes.delete(target.version ?? '');
      throw translateKeyVaultError(err, 'wrapKey', target.keyId);
    } finally {
      probe.fill(0);
    }
  }

  async _onEncrypt(material: NodeEncryptionMaterial): Promise<NodeEncryptionMaterial> {
    const target = this.#wrapTarget;
    if (!material.hasUnencryptedDataKey) {
      material.setUnencryptedDataKey(isolated(randomBytes(material.suite.keyLengthBytes)), {
        keyNamespace: AZURE_KEYVAULT_PROVIDER_ID,
        keyName: target.keyId,
        flags: KeyringTraceFlag.WRAPPING_KEY_GENERATED_DATA_KEY,
      });
    }
    const dataKey = unwrapDataKey(material.getUnencryptedDataKey());
    const algorithm = await this.#algorithm(target.version ?? '', target);
    let answeredKid: unknown;
    let wrapped: Uint8Array;
    try {
      const result = await this.#wrapClient.wrapKey(algorithm, dataKey, {
        // The SDK reports the kid it was built with; Key Vault answers with the version it
        // actually used (the current one for a versionless id), which is what must be recorded.
        onResponse: (response) => {
          const body = response.parsedBody as { kid?: unknown } | undefined;
          if (response.request.method === 'POST' && response.status === 200) answeredKid = body?.kid;
        },
      });
      wrapped = result.result;
    } catch (err) {
      this.#keyTypes.delete(target.version ?? ''); // the key may have changed: look again next time
      throw translateKeyVaultError(err, 'wrapKey', target.keyId);
    }
    const kid =
      typeof answeredKid === 'string' ? parseKeyVaultKeyId(answeredKid) : target.version ? target : undefined;
    if (!kid || !isVersionOf(kid, this.#key)) {
      throw new KeyProviderError(
        'transient',
        'UnexpectedKeyVaultResponse',
        `Azure Key Vault wrapKey with key ${target.keyId} did not name the key version it used`,
      );
    }
    this.#lastWrappedKeyId = kid.keyId;
    return material.addEncryptedDataKey(
      new EncryptedDataKey({
        providerId: AZURE_KEYVAULT_PROVIDER_ID,
        providerInfo: kid.keyId,
        encryptedDataKey: new Uint8Array(wrapped),
      }),
      KeyringTraceFlag.WRAPPING_KEY_ENCRYPTED_DATA_KEY,
    );
  }

  async _onDecrypt(
    material: NodeDecryptionMaterial,
    encryptedDataKeys: EncryptedDataKey[],
  ): Promise<NodeDecryptionMaterial> {
    if (material.hasValidKey()) return material;
    const match = this.#firstMatch(encryptedDataKeys);
    if (!match) throw noMatchingKey(this.#key, encryptedDataKeys);
    const { edk, kid } = match;
    const algorithm =
      algorithmOfWrapped(edk.encryptedDataKey.length) ?? (await this.#algorithm(kid.version ?? '', kid));
    let dataKey: Uint8Array;
    try {
      dataKey = isolated((await this.#versionClient(kid).unwrapKey(algorithm, edk.encryptedDataKey)).result);
    } catch (err) {
      throw translateKeyVaultError(err, 'unwrapKey', kid.keyId);
    }
    return material.setUnencryptedDataKey(dataKey, {
      keyNamespace: AZURE_KEYVAULT_PROVIDER_ID,
      keyName: kid.keyId,
      flags: KeyringTraceFlag.WRAPPING_KEY_DECRYPTED_DATA_KEY,
    });
  }

  #firstMatch(edks: EncryptedDataKey[]): { edk: EncryptedDataKey; kid: KeyVaultKeyId } | undefined {
    for (const edk of edks) {
      if (edk.providerId !== AZURE_KEYVAULT_PROVIDER_ID) continue;
      const kid = parseKeyVaultKeyId(edk.providerInfo);
      if (kid && isVersionOf(kid, this.#key)) return { edk, kid };
    }
    return undefined;
  }

  /** The wrap algorithm for a version's key type (`''`: the current version), via one cached getKey. */
  async #algorithm(version: string, id: KeyVaultKeyId): Promise<KeyWrapAlgorithm> {
    let kty = this.#keyTypes.get(version);
    if (!kty) {
      kty = this.#keyClient.getKey(this.#key.name, { version }).then((key) => String(key.keyType));
      this.#keyTypes.set(version, kty);
      kty.catch(() => this.#keyTypes.delete(version));
    }
    let keyType: string;
    try {
      keyType = await kty;
    } catch (err) {
      throw translateKeyVaultError(err, 'getKey', id.keyId);
    }
    const algorithm = WRAP_ALGORITHMS[keyType];
    if (!algorithm) throw unsupportedKeyType(id.keyId, keyType);
    return algorithm;
  }

  #versionClient(kid: KeyVaultKeyId): CryptographyClient {
    const cacheKey = kid.keyId.toLowerCase();
    let client = this.#versionClients.get(cacheKey);
    if (!client) {
      client = this.#cryptoClient(kid);
      this.#versionClients.set(cacheKey, client);
    }
    return client;
  }

  /** A client that only ever calls the vault (see the class comment). */
  #cryptoClient(id: KeyVaultKeyId): CryptographyClient {
    const reference: KeyVaultKey = {
      id: id.keyId,
      name: id.name,
      properties: { id: id.keyId, name: id.name, vaultUrl: id.vaultUrl, version: id.version },
    };
    return new CryptographyClient(reference, this.#credential, this.#options);
  }
}

/**
 * The algorithm a wrapped data key was made with, from its length. Key Vault's unwrap
 * needs the algorithm and the EDK does not record it; the key type it follows from would
 * cost a getKey (and the `get` permission) per key version. The length tells the two
 * apart without doubt: an RSA-OAEP ciphertext is as long as the modulus (256 bytes or
 * more in Key Vault), AES key wrap of an ESDK data key (16-32 bytes) is 8 bytes longer.
 */
function algorithmOfWrapped(length: number): KeyWrapAlgorithm | undefined {
  if (length >= 256) return 'RSA-OAEP-256';
  if (length >= 24 && length <= 40 && length % 8 === 0) return 'A256KW';
  return undefined;
}

/** A copy in its own ArrayBuffer (the ESDK refuses views into shared pools); the source is wiped. */
function isolated(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  bytes.fill(0);
  return copy;
}

export function unsupportedKeyType(keyId: string, keyType: string): KeyProviderError {
  return new KeyProviderError(
    'tenant',
    'UnsupportedKeyType',
    `Azure Key Vault key ${keyId} is of type ${keyType}; use an RSA, RSA-HSM or oct-HSM key (wrapKey/unwrapKey)`,
  );
}

function noMatchingKey(key: KeyVaultKeyId, edks: EncryptedDataKey[]): KeyProviderError {
  const ours = edks.filter((e) => e.providerId === AZURE_KEYVAULT_PROVIDER_ID).map((e) => e.providerInfo);
  const message = ours.length
    ? `the object's data key is wrapped by ${ours.join(', ')}, not by a version of Key Vault key ${key.vaultUrl}/keys/${key.name}`
    : 'the object has no data key wrapped by Azure Key Vault';
  return new KeyProviderError('tenant', 'NoMatchingKeyVaultKey', message);
}
