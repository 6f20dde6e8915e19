import {
  getClient,
  type KmsKeyringNodeInput,
  KmsKeyringNode,
  type KmsNodeClientSupplier,
} from '@aws-crypto/kms-keyring-node';
import {
  type EncryptedDataKey,
  KeyringNode,
  type NodeDecryptionMaterial,
  type NodeEncryptionMaterial,
} from '@aws-crypto/material-management-node';
import { KMS, type KMSClientConfig, type KeyMetadata } from '@aws-sdk/client-kms';
import { KeyProviderError } from '../../errors.js';
import { healthOfError } from '../health.js';
import type { KeyHealth, KeyProvider, KeyProviderFactory } from '../key-provider.js';
import { type KmsStep, translateKmsError } from './errors.js';

/** ESDK key namespace (`providerId`) of data keys wrapped by AWS KMS; `providerInfo` is the key ARN. */
export const AWS_KMS_PROVIDER_ID = 'aws-kms';

/** A tenant's `aws-kms` storage configuration (validated by the API before it gets here). */
export interface AwsKmsKeyConfig {
  /** Full key ARN (not an alias: recordings record the key ARN and are matched against it). */
  kmsKeyArn: string;
  region: string;
  /** KMS endpoint override (VPC endpoint, LocalStack-style stacks); `AWS_ENDPOINT_URL_KMS` also works. */
  endpoint?: string;
  /** The tenant's role and the ExternalId it requires (the `s3` plan sets both; `credentialsFor` uses them). */
  roleArn?: string;
  externalId?: string;
}

/** A credential provider (e.g. STS AssumeRole into the tenant's role), as the AWS SDK takes it. */
export type KmsCredentials = NonNullable<KMSClientConfig['credentials']>;

export interface AwsKmsKeyProviderOptions extends AwsKmsKeyConfig {
  credentials: KmsCredentials;
  /** The tenant the key serves: the `custody:tenant` context of `health()`'s test GenerateDataKey. */
  tenantId?: string;
}

export const KEY_ARN = /^arn:(aws[a-z-]*):kms:([a-z0-9-]+):(\d{12}):key\/([A-Za-z0-9-]+)$/;

/** Region of a KMS key ARN; throws `KeyProviderError('tenant', 'InvalidKmsKeyArn')` otherwise. */
export function regionOfKeyArn(kmsKeyArn: string): string {
  const m = KEY_ARN.exec(kmsKeyArn);
  if (!m?.[2]) {
    throw new KeyProviderError(
      'tenant',
      'InvalidKmsKeyArn',
      `${JSON.stringify(kmsKeyArn)} is not an AWS KMS key ARN (arn:aws:kms:<region>:<account>:key/<key-id>)`,
    );
  }
  return m[2];
}

/** Why a described key cannot wrap recordings, or `undefined` when it can. */
function keyProblem(meta: KeyMetadata | undefined): { code: string; what: string } | undefined {
  if (!meta) return { code: 'NotFoundException', what: 'was not described by KMS' };
  if (meta.KeyState === 'Disabled') return { code: 'DisabledException', what: 'is disabled' };
  if (meta.KeyState !== 'Enabled')
    return { code: 'KMSInvalidStateException', what: `is in state ${meta.KeyState ?? 'unknown'}` };
  if (meta.KeyUsage !== 'ENCRYPT_DECRYPT' || (meta.KeySpec ?? 'SYMMETRIC_DEFAULT') !== 'SYMMETRIC_DEFAULT')
    return {
      code: 'InvalidKeyUsage',
      what: `is a ${meta.KeySpec ?? '?'} ${meta.KeyUsage ?? '?'} key, not a symmetric encryption key`,
    };
  return undefined;
}

/**
 * What a described key's state says about its health; `undefined` for Enabled (the test
 * GenerateDataKey decides). Codes are the ones a GenerateDataKey would fail with, so a
 * paused transfer shows what a real attempt would have.
 */
function healthOfMetadata(meta: KeyMetadata | undefined): KeyHealth | undefined {
  if (!meta) return { state: 'not-found', code: 'NotFoundException' };
  switch (meta.KeyState) {
    case 'Enabled':
      return undefined;
    case 'Disabled':
      return { state: 'disabled', code: 'DisabledException' };
    case 'PendingDeletion':
    case 'PendingReplicaDeletion': {
      const health: KeyHealth = { state: 'pending-deletion', code: 'KMSInvalidStateException' };
      if (meta.DeletionDate) health.deletionDate = new Date(meta.DeletionDate).toISOString();
      return health;
    }
    case 'PendingImport': {
      // Imported key material that expired (ValidTo passed) leaves the key pending import.
      const expired = meta.ValidTo !== undefined && new Date(meta.ValidTo).getTime() <= Date.now();
      return { state: expired ? 'expired' : 'disabled', code: 'KMSInvalidStateException' };
    }
    case 'Unavailable':
      // A custom key store disconnected: the tenant reconnects it.
      return { state: 'disabled', code: 'KeyUnavailableException' };
    default:
      // Creating / Updating: passing states; not a reason to pause anything.
      return { state: 'unreachable', code: `KeyState${meta.KeyState ?? 'Unknown'}` };
  }
}

type KmsApi = Exclude<ReturnType<KmsNodeClientSupplier>, false>;

/**
 * One tenant's AWS KMS key. The keyring is the ESDK's `KmsKeyringNode` with the key as
 * generator (one GenerateDataKey per message, one Decrypt per unwrap), so tenants can
 * decrypt recordings with any AWS Encryption SDK or the Encryption CLI and their key.
 * KMS failures surface as `KeyProviderError` (see `translateKmsError`).
 */
export class AwsKmsKeyProvider implements KeyProvider {
  readonly kind = 'aws-kms';
  readonly keyId: string;
  readonly #keyring: KeyringNode;

  constructor(opts: AwsKmsKeyProviderOptions) {
    const keyRegion = regionOfKeyArn(opts.kmsKeyArn);
    if (keyRegion !== opts.region) {
      throw new KeyProviderError(
        'tenant',
        'InvalidKmsKeyArn',
        `key ${opts.kmsKeyArn} is in region ${keyRegion}, but the configured region is ${opts.region}`,
      );
    }
    this.keyId = opts.kmsKeyArn;
    this.#tenantId = opts.tenantId;
    const config: KMSClientConfig = { credentials: opts.credentials };
    if (opts.endpoint !== undefined) config.endpoint = opts.endpoint;
    const build = getClient(KMS, config);
    const clients = new Map<string, KMS>();
    const clientFor = (region: string): KMS | false => {
      let client = clients.get(region);
      if (!client) {
        const built = build(region);
        if (!built) return false;
        client = built;
        clients.set(region, client);
      }
      return client;
    };
    this.#keyring = new TranslatingKmsKeyring(opts.kmsKeyArn, clientFor);
    this.#client = () => clientFor(keyRegion);
  }

  readonly #client: () => KMS | false;
  readonly #tenantId: string | undefined;

  keyring(): KeyringNode {
    return this.#keyring;
  }

  /**
   * DescribeKey (it carries no encryption context, so the tenant's policy grants it
   * without a condition): tells a disabled, pending-deletion or asymmetric key apart
   * before the first GenerateDataKey, each with its own code.
   */
  async check(): Promise<void> {
    const client = this.#client();
    if (!client) throw new KeyProviderError('transient', 'KMSClientUnavailable', 'no KMS client for the key');
    let meta: KeyMetadata | undefined;
    try {
      meta = (await client.describeKey({ KeyId: this.keyId })).KeyMetadata;
    } catch (err) {
      throw translateKmsError(err, 'DescribeKey', this.keyId);
    }
    const problem = keyProblem(meta);
    if (problem)
      throw new KeyProviderError('tenant', problem.code, `AWS KMS key ${this.keyId} ${problem.what}`);
  }

  /**
   * DescribeKey for the state (and a pending deletion's date), then one GenerateDataKey
   * with the tenant's encryption context: a key policy or grant that no longer lets the
   * tenant's role use the key shows only there. Two KMS calls per check, none per recording.
   */
  async health(): Promise<KeyHealth> {
    const client = this.#client();
    if (!client) return { state: 'unreachable', code: 'KMSClientUnavailable' };
    let meta: KeyMetadata | undefined;
    try {
      meta = (await client.describeKey({ KeyId: this.keyId })).KeyMetadata;
    } catch (err) {
      return healthOfError(translateKmsError(err, 'DescribeKey', this.keyId));
    }
    const described = healthOfMetadata(meta);
    if (described) return described;
    if (this.#tenantId === undefined) return { state: 'ok' };
    try {
      const out = await client.generateDataKey({
        KeyId: this.keyId,
        NumberOfBytes: 32,
        EncryptionContext: { 'custody:tenant': this.#tenantId, 'custody:recording': 'key-health' },
      });
      out.Plaintext?.fill(0); // never used: only whether KMS would wrap for us
    } catch (err) {
      return healthOfError(translateKmsError(err, 'GenerateDataKey', this.keyId));
    }
    return { state: 'ok' };
  }
}

/**
 * Delegates to a `KmsKeyringNode` and turns KMS failures into `KeyProviderError`s.
 *
 * Why per call: the KMS keyring rethrows GenerateDataKey errors as they are, but on
 * decrypt it swallows each KMS error and throws one generic error with their stack
 * traces concatenated in its message. The KMS client handed to the keyring therefore
 * records (already translated) errors in a list owned by this one call.
 */
class TranslatingKmsKeyring extends KeyringNode {
  constructor(
    private readonly keyArn: string,
    private readonly clientFor: (region: string) => KMS | false,
  ) {
    super();
  }

  #inner(errors: KeyProviderError[]): KmsKeyringNode {
    const { keyArn, clientFor } = this;
    const guard = async <T>(step: KmsStep, call: () => Promise<T>): Promise<T> => {
      try {
        return await call();
      } catch (err) {
        const translated = translateKmsError(err, step, keyArn);
        errors.push(translated);
        throw translated;
      }
    };
    const clientProvider: KmsNodeClientSupplier = (region) => {
      const client = clientFor(region);
      if (!client) return false;
      const api: KmsApi = {
        generateDataKey: (args) => guard('GenerateDataKey', () => client.generateDataKey(args)),
        decrypt: (args) => guard('Decrypt', () => client.decrypt(args)),
        encrypt: (args) => guard('Encrypt', () => client.encrypt(args)),
      };
      return api;
    };
    const input: KmsKeyringNodeInput = { generatorKeyId: keyArn, clientProvider };
    return new KmsKeyringNode(input);
  }

  async _onEncrypt(material: NodeEncryptionMaterial): Promise<NodeEncryptionMaterial> {
    const errors: KeyProviderError[] = [];
    try {
      return (await this.#inner(errors).onEncrypt(material)) as NodeEncryptionMaterial;
    } catch (err) {
      throw firstOr(errors, err);
    }
  }

  async _onDecrypt(
    material: NodeDecryptionMaterial,
    encryptedDataKeys: EncryptedDataKey[],
  ): Promise<NodeDecryptionMaterial> {
    const errors: KeyProviderError[] = [];
    try {
      return (await this.#inner(errors).onDecrypt(material, encryptedDataKeys)) as NodeDecryptionMaterial;
    } catch (err) {
      throw firstOr(errors, err);
    }
  }
}

/** The first KMS error of this call (its `cause` the KMS error), else the keyring's own error. */
function firstOr(errors: KeyProviderError[], err: unknown): unknown {
  return errors[0] ?? err;
}

export type CredentialsFor = (tenantId: string, config: AwsKmsKeyConfig) => KmsCredentials;

/** Builds `aws-kms` key providers; `credentialsFor` supplies the tenant's (assumed-role) credentials. */
export class AwsKmsKeyProviderFactory implements KeyProviderFactory<AwsKmsKeyConfig> {
  readonly kind = 'aws-kms';

  constructor(private readonly credentialsFor: CredentialsFor) {}

  async create(tenantId: string, config: AwsKmsKeyConfig): Promise<KeyProvider> {
    const opts: AwsKmsKeyProviderOptions = {
      kmsKeyArn: config.kmsKeyArn,
      region: config.region,
      credentials: this.credentialsFor(tenantId, config),
      tenantId,
    };
    if (config.endpoint !== undefined) opts.endpoint = config.endpoint;
    return new AwsKmsKeyProvider(opts);
  }
}
