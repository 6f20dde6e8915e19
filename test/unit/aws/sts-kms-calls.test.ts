import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { STSClient } from '@aws-sdk/client-sts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AWS_API_CALLS, operationsOf } from '../../../src/aws/api-calls.js';
import { AssumedRoleCredentials } from '../../../src/aws/assume-role.js';
import { bufferSource, createEncryptStream, openMessage } from '../../../src/crypto/index.js';
import { AwsKmsKeyProviderFactory } from '../../../src/keys/aws-kms/index.js';
import { KmsStandIn } from '../../support/kms-standin.js';

describe('STS calls', () => {
  it('AssumeRole is the only STS call, and it is declared', async () => {
    const sent: string[] = [];
    const sts = new STSClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIACONNECTOR', secretAccessKey: 'connector-secret' },
    });
    // Answers every command itself: only the command names matter here, not the network.
    sts.middlewareStack.add(
      (_next, context) => async () => {
        sent.push(String(context.commandName).replace(/Command$/, ''));
        const Expiration = new Date(Date.now() + 3_600_000);
        const Credentials = { AccessKeyId: 'ASIA1', SecretAccessKey: 's', SessionToken: 't', Expiration };
        return { output: { Credentials, $metadata: {} }, response: {} } as never;
      },
      { step: 'initialize', name: 'answerLocally' },
    );
    const creds = new AssumedRoleCredentials({ sts });
    const provider = creds.forTenant({
      tenantId: 'acme',
      roleArn: 'arn:aws:iam::111122223333:role/custody-writer',
      externalId: 'ext-acme-0123456789',
    });
    expect((await provider()).accessKeyId).toBe('ASIA1');
    expect(sent).toEqual(['AssumeRole']);
    expect(operationsOf('sts')).toEqual(['AssumeRole']);
  });
});

describe('KMS calls of the aws-kms key provider', () => {
  let kms: KmsStandIn;
  beforeEach(() => {
    kms = new KmsStandIn().start();
  });
  afterEach(() => kms.stop());

  it('are declared, and each one granted under the tenant context carries it', async () => {
    const arn = kms.createKey('eu-west-1');
    const credentials = async () => ({ accessKeyId: 'AKIDSTANDIN', secretAccessKey: 'standin-secret' });
    const provider = await new AwsKmsKeyProviderFactory(() => credentials).create('acme', {
      kmsKeyArn: arn,
      region: 'eu-west-1',
    });
    // As the handshake does: the key check, then a wrap and an unwrap.
    await provider.check?.();
    const context = { 'custody:tenant': 'acme', 'custody:recording': 'rec_abc' };
    const plaintext = randomBytes(4096);
    const enc = await createEncryptStream({ keyring: provider.keyring(), context });
    const ciphertext = Buffer.concat(await Readable.from([plaintext]).pipe(enc).toArray());
    const opened = await openMessage(bufferSource(ciphertext), {
      keyring: provider.keyring(),
      expectedContext: context,
    });
    expect(Buffer.concat(await opened.stream().toArray()).equals(plaintext)).toBe(true);

    const seen = kms.calls.map((c) => c.operation);
    expect(seen).toEqual(expect.arrayContaining(['DescribeKey', 'GenerateDataKey', 'Decrypt']));
    const declared = operationsOf('kms');
    expect(seen.filter((op) => !declared.includes(op))).toEqual([]);
    // The key and IAM policies allow these only when the context names the tenant.
    const underContext = AWS_API_CALLS.filter((c) => c.statement === 'kms-tenant-context').map(
      (c) => c.operation,
    );
    for (const call of kms.calls) {
      expect(call.keyId).toBe(arn);
      if (underContext.includes(call.operation))
        expect(call.encryptionContext?.['custody:tenant'], call.operation).toBe('acme');
    }
  });
});
