import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { AlgorithmSuiteIdentifier, buildClient, CommitmentPolicy } from '@aws-crypto/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEncryptStream } from '../../src/crypto/index.js';
import { KeyProviderError } from '../../src/errors.js';
import { type AwsKmsKeyConfig, AwsKmsKeyProviderFactory } from '../../src/keys/aws-kms/index.js';
import type { KeyProvider } from '../../src/keys/key-provider.js';
import { keyProviderContract } from './key-provider.suite.js';
import { KmsStandIn } from '../support/kms-standin.js';

const credentials = async () => ({ accessKeyId: 'AKIDSTANDIN', secretAccessKey: 'standin-secret' });
const esdk = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
const suiteId = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;

function factory(seen?: { tenantId: string; config: AwsKmsKeyConfig }[]): AwsKmsKeyProviderFactory {
  return new AwsKmsKeyProviderFactory((tenantId, config) => {
    seen?.push({ tenantId, config });
    return credentials;
  });
}

keyProviderContract('aws-kms (nock stand-in)', async () => {
  const kms = new KmsStandIn().start();
  const arn = kms.createKey('eu-west-1');
  const otherArn = kms.createKey('eu-west-1');
  const config = { kmsKeyArn: arn, region: 'eu-west-1' };
  return {
    tenantId: 'acme',
    otherTenantId: 'acme-corp',
    provider: await factory().create('acme', config),
    otherTenantProvider: await factory().create('acme-corp', { kmsKeyArn: otherArn, region: 'eu-west-1' }),
    reopen: () => factory().create('acme', config),
    expectedDataKey: { providerId: 'aws-kms', providerInfo: arn },
    cleanup: async () => kms.stop(),
  };
});

describe('aws-kms key provider against the KMS stand-in', () => {
  let kms: KmsStandIn;
  let arn: string;
  let provider: KeyProvider;
  const context = () => ({
    'custody:tenant': 'acme',
    'custody:recording': `rec_${randomBytes(8).toString('hex')}`,
  });

  beforeEach(async () => {
    kms = new KmsStandIn().start();
    arn = kms.createKey('us-east-2');
    provider = await factory().create('acme', { kmsKeyArn: arn, region: 'us-east-2' });
  });
  afterEach(() => kms.stop());

  async function encryptWithStream(plaintext: Buffer, ctx: Record<string, string>): Promise<Buffer> {
    const enc = await createEncryptStream({ keyring: provider.keyring(), context: ctx, frameLength: 4096 });
    return buffer(Readable.from([plaintext]).pipe(enc));
  }

  it('has kind aws-kms and the key ARN as keyId; passes tenant id and config to credentialsFor', async () => {
    const seen: { tenantId: string; config: AwsKmsKeyConfig }[] = [];
    const p = await factory(seen).create('acme', { kmsKeyArn: arn, region: 'us-east-2' });
    expect(p.kind).toBe('aws-kms');
    expect(p.keyId).toBe(arn);
    expect(seen).toEqual([{ tenantId: 'acme', config: { kmsKeyArn: arn, region: 'us-east-2' } }]);
  });

  it('rejects an alias, a malformed ARN, or a region that disagrees with the ARN', async () => {
    const f = factory();
    await expect(
      f.create('acme', { kmsKeyArn: 'alias/recordings', region: 'us-east-2' }),
    ).rejects.toMatchObject({
      kind: 'tenant',
      code: 'InvalidKmsKeyArn',
    });
    await expect(f.create('acme', { kmsKeyArn: arn, region: 'eu-west-1' })).rejects.toMatchObject({
      kind: 'tenant',
      code: 'InvalidKmsKeyArn',
    });
  });

  it('sends the encryption context to KMS on GenerateDataKey and Decrypt', async () => {
    const ctx = context();
    const { result } = await esdk.encrypt(provider.keyring(), 'hello', { suiteId, encryptionContext: ctx });
    const back = await esdk.decrypt(provider.keyring(), result);
    expect(Buffer.from(back.plaintext).toString()).toBe('hello');
    const [gen] = kms.callsOf('GenerateDataKey');
    const [dec] = kms.callsOf('Decrypt');
    expect(gen?.keyId).toBe(arn);
    expect(gen?.encryptionContext).toMatchObject(ctx);
    expect(dec?.keyId).toBe(arn);
    expect(dec?.encryptionContext).toMatchObject(ctx);
  });

  it('makes exactly one GenerateDataKey per message encrypted, whatever its size', async () => {
    await encryptWithStream(randomBytes(50_000), context());
    expect(kms.counts.GenerateDataKey).toBe(1);
    await encryptWithStream(Buffer.alloc(0), context());
    await encryptWithStream(randomBytes(10), context());
    expect(kms.counts.GenerateDataKey).toBe(3);
    expect(kms.counts.Encrypt).toBe(0);
    expect(kms.counts.Decrypt).toBe(0);
  });

  it('a stream-encrypted message decrypts with the official ESDK through KMS Decrypt', async () => {
    const plaintext = randomBytes(20_000);
    const ctx = context();
    const message = await encryptWithStream(plaintext, ctx);
    const { plaintext: back, messageHeader } = await esdk.decrypt(provider.keyring(), message);
    expect(Buffer.from(back).equals(plaintext)).toBe(true);
    expect(messageHeader.encryptionContext).toMatchObject(ctx);
    expect(kms.counts.Decrypt).toBe(1);
  });

  it('a disabled key fails encrypt with KeyProviderError tenant/DisabledException, naming step and key', async () => {
    kms.disable(arn);
    const err = await encryptWithStream(randomBytes(10), context()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyProviderError);
    expect(err).toMatchObject({ kind: 'tenant', code: 'DisabledException' });
    expect((err as Error).message).toContain('GenerateDataKey');
    expect((err as Error).message).toContain(arn);
    expect((err as Error).message).not.toContain('is disabled.');
  });

  it('access denied fails encrypt with code AccessDeniedException, without the KMS response text', async () => {
    kms.deny(arn);
    const err = await esdk
      .encrypt(provider.keyring(), 'x', { suiteId, encryptionContext: context() })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyProviderError);
    expect(err).toMatchObject({ kind: 'tenant', code: 'AccessDeniedException' });
    expect((err as Error).message).not.toContain('secret policy detail');
  });

  it('a key disabled or denied after encryption fails decrypt with the tenant error, not a generic one', async () => {
    const { result } = await esdk.encrypt(provider.keyring(), 'x', { suiteId, encryptionContext: context() });
    kms.disable(arn);
    const disabled = await esdk.decrypt(provider.keyring(), result).catch((e: unknown) => e);
    expect(disabled).toMatchObject({ name: 'KeyProviderError', kind: 'tenant', code: 'DisabledException' });
    expect((disabled as Error).message).toContain('Decrypt');
    kms.deny(arn);
    const denied = await esdk.decrypt(provider.keyring(), result).catch((e: unknown) => e);
    expect(denied).toMatchObject({ kind: 'tenant', code: 'AccessDeniedException' });
  });

  it('a deleted (unknown) key is a tenant NotFoundException', async () => {
    const ghost = 'arn:aws:kms:us-east-2:111122223333:key/00000000-0000-0000-0000-000000000000';
    const p = await factory().create('acme', { kmsKeyArn: ghost, region: 'us-east-2' });
    await expect(
      esdk.encrypt(p.keyring(), 'x', { suiteId, encryptionContext: context() }),
    ).rejects.toMatchObject({
      kind: 'tenant',
      code: 'NotFoundException',
    });
  });

  it('the stand-in really binds the context: KMS Decrypt with another context is rejected', async () => {
    const { result } = await esdk.encrypt(provider.keyring(), 'x', { suiteId, encryptionContext: context() });
    const header = (await esdk.decrypt(provider.keyring(), result)).messageHeader;
    const edk = header.encryptedDataKeys[0];
    expect(edk).toBeDefined();
    const { KMS } = await import('@aws-sdk/client-kms');
    const client = new KMS({ region: 'us-east-2', credentials });
    await expect(
      client.decrypt({
        KeyId: arn,
        CiphertextBlob: edk?.encryptedDataKey,
        EncryptionContext: { ...header.encryptionContext, 'custody:tenant': 'evil' },
      }),
    ).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
  });

  it('honours an explicit endpoint', async () => {
    kms.stop();
    kms = new KmsStandIn('https://kms.internal.example').start();
    const key = kms.createKey('us-east-2');
    const p = await factory().create('acme', {
      kmsKeyArn: key,
      region: 'us-east-2',
      endpoint: 'https://kms.internal.example',
    });
    const { result } = await esdk.encrypt(p.keyring(), 'x', { suiteId, encryptionContext: context() });
    await esdk.decrypt(p.keyring(), result);
    expect(kms.counts).toMatchObject({ GenerateDataKey: 1, Decrypt: 1 });
  });
});
