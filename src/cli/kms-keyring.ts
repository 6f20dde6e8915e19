import { getClient, KmsKeyringNode, type KmsNodeClientSupplier } from '@aws-crypto/kms-keyring-node';
import {
  type EncryptedDataKey,
  KeyringNode,
  type NodeDecryptionMaterial,
  type NodeEncryptionMaterial,
} from '@aws-crypto/material-management-node';
import { KMS } from '@aws-sdk/client-kms';
import { KeyProviderError } from '../errors.js';
import { AWS_KMS_PROVIDER_ID, regionOfKeyArn, translateKmsError } from '../keys/aws-kms/index.js';

type KmsApi = Exclude<ReturnType<KmsNodeClientSupplier>, false>;

/**
 * The tenant-side KMS keyring of `custody decrypt|inspect --kms`: the ESDK's
 * `KmsKeyringNode`, decrypt only, with the caller's own AWS identity (default credential
 * chain, `AWS_ENDPOINT_URL_KMS` honoured by the SDK). With no `keyArns` it is in
 * discovery mode (any KMS key named in the object is tried); with `keyArns` only those
 * keys are. Each KMS client is in the region of the key ARN it serves.
 */
export function cliKmsKeyring(keyArns: readonly string[]): KeyringNode {
  // Validated up front: the ESDK's own check only says "Malformed arn.", and an alias
  // could never match, as objects record full key ARNs.
  for (const arn of keyArns) regionOfKeyArn(arn);
  return new CliKmsKeyring(keyArns);
}

class CliKmsKeyring extends KeyringNode {
  readonly #clients = new Map<string, KMS | false>();
  readonly #build = getClient(KMS, {});

  constructor(private readonly keyArns: readonly string[]) {
    super();
  }

  async _onEncrypt(_material: NodeEncryptionMaterial): Promise<NodeEncryptionMaterial> {
    throw new Error('the CLI KMS keyring only decrypts');
  }

  /**
   * Why the wrapping: on decrypt the ESDK keyring swallows each KMS error and throws one
   * message with their stack traces concatenated. The client handed to it records the
   * errors instead, so the CLI can say in one line which AWS error it was.
   */
  async _onDecrypt(
    material: NodeDecryptionMaterial,
    encryptedDataKeys: EncryptedDataKey[],
  ): Promise<NodeDecryptionMaterial> {
    const kmsKeys = encryptedDataKeys.filter((edk) => edk.providerId === AWS_KMS_PROVIDER_ID);
    const candidates = this.keyArns.length
      ? kmsKeys.filter((edk) => this.keyArns.includes(edk.providerInfo))
      : kmsKeys;
    if (candidates.length === 0) throw noMatchingKey(kmsKeys);
    const errors: KeyProviderError[] = [];
    const clientProvider: KmsNodeClientSupplier = (region) => {
      const client = this.#client(region);
      if (!client) return false;
      const api: KmsApi = {
        decrypt: async (args) => {
          try {
            return await client.decrypt(args);
          } catch (err) {
            const reason = describeKmsError(err, String(args.KeyId));
            errors.push(reason);
            throw reason;
          }
        },
        generateDataKey: () => Promise.reject(new Error('decrypt only')),
        encrypt: () => Promise.reject(new Error('decrypt only')),
      };
      return api;
    };
    const inner = this.keyArns.length
      ? new KmsKeyringNode({ keyIds: [...this.keyArns], clientProvider })
      : new KmsKeyringNode({ discovery: true, clientProvider });
    try {
      return (await inner.onDecrypt(material, encryptedDataKeys)) as NodeDecryptionMaterial;
    } catch (err) {
      throw errors[0] ?? err;
    }
  }

  #client(region: string): KMS | false {
    let client = this.#clients.get(region);
    if (client === undefined) {
      client = this.#build(region);
      this.#clients.set(region, client);
    }
    return client;
  }
}

/**
 * One line naming the AWS error. The tenant runs this against their own key, so for
 * errors other than the well-known key-state ones the AWS message is kept (first line).
 */
function describeKmsError(err: unknown, keyArn: string): KeyProviderError {
  const translated = translateKmsError(err, 'Decrypt', keyArn);
  if (translated.kind === 'tenant') return translated;
  const detail = err instanceof Error ? (err.message.split('\n')[0]?.trim() ?? '') : '';
  return new KeyProviderError(
    translated.kind,
    translated.code,
    `AWS KMS Decrypt with key ${keyArn} failed (${translated.code})${detail ? `: ${detail}` : ''}`,
    { cause: err },
  );
}

function noMatchingKey(kmsKeys: EncryptedDataKey[]): KeyProviderError {
  const wrapping = kmsKeys.map((edk) => edk.providerInfo).join(', ');
  const message = !kmsKeys.length
    ? 'the object has no data key wrapped by AWS KMS'
    : `none of the given --kms-key-arn wraps the object's data key (it is wrapped by ${wrapping})`;
  return new KeyProviderError('tenant', 'NoMatchingKmsKey', message);
}
