import { KMS } from '@aws-sdk/client-kms';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AwsStandIn, startAwsStandIn } from '../../support/aws-standin.js';

const ROLE = 'arn:aws:iam::111122223333:role/custody-writer';
const OTHER_ROLE = 'arn:aws:iam::444455556666:role/custody-writer';
const EXTERNAL_ID = 'ext-acme-1234';
const ctx = (tenant: string) => ({ 'custody:tenant': tenant, 'custody:recording': 'rec_1' });

/** What an SDK call rejected with: its error name and HTTP status. */
async function failure(p: Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  const err = (await p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  )) as { name: string; $metadata?: { httpStatusCode?: number } };
  return { name: err.name, status: err.$metadata?.httpStatusCode };
}

describe('AWS stand-in (STS + KMS on one local HTTP server) through the real SDK clients', () => {
  let aws: AwsStandIn;
  let sts: STSClient;
  /** The key owner: long-term credentials, no session token. */
  let owner: KMS;

  beforeAll(async () => {
    aws = await startAwsStandIn();
    const env = aws.env();
    const connector = { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY };
    sts = new STSClient({
      region: env.AWS_REGION,
      endpoint: env.AWS_ENDPOINT_URL_STS,
      credentials: connector,
      maxAttempts: 1,
    });
    owner = new KMS({
      region: 'us-east-1',
      endpoint: env.AWS_ENDPOINT_URL_KMS,
      credentials: connector,
      maxAttempts: 1,
    });
    aws.addRole({ roleArn: ROLE, externalId: EXTERNAL_ID, tenantId: 'acme' });
  });
  afterAll(async () => {
    sts?.destroy();
    owner?.destroy();
    await aws?.stop();
  });
  beforeEach(() => aws.resetCounts());

  /** `externalId: null` sends none. */
  const assume = (roleArn = ROLE, externalId: string | null = EXTERNAL_ID, DurationSeconds?: number) =>
    sts.send(
      new AssumeRoleCommand({
        RoleArn: roleArn,
        ExternalId: externalId ?? undefined,
        RoleSessionName: 'custody-acme',
        DurationSeconds,
      }),
    );

  /** A KMS client acting as a session of ROLE. */
  async function sessionKms(): Promise<KMS> {
    const c = (await assume()).Credentials!;
    return new KMS({
      region: 'us-east-1',
      endpoint: aws.endpoint,
      maxAttempts: 1,
      credentials: {
        accessKeyId: c.AccessKeyId!,
        secretAccessKey: c.SecretAccessKey!,
        sessionToken: c.SessionToken!,
      },
    });
  }

  it('exposes the endpoint and the connector identity as env', () => {
    expect(aws.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(aws.env()).toEqual({
      AWS_ENDPOINT_URL_STS: aws.endpoint,
      AWS_ENDPOINT_URL_KMS: aws.endpoint,
      AWS_ACCESS_KEY_ID: 'connector-access-key',
      AWS_SECRET_ACCESS_KEY: 'connector-secret',
      AWS_REGION: 'us-east-1',
    });
  });

  it('AssumeRole enforces the ExternalId and issues distinct S3RVER sessions', async () => {
    const before = Date.now();
    const [a, b] = await Promise.all([assume(), assume(ROLE, EXTERNAL_ID, 900)]);
    expect(a.Credentials?.AccessKeyId).toBe('S3RVER');
    expect(a.Credentials?.SessionToken).not.toBe(b.Credentials?.SessionToken);
    expect(a.Credentials?.SecretAccessKey).not.toBe(b.Credentials?.SecretAccessKey);
    const exp = a.Credentials!.Expiration!.getTime();
    expect(exp).toBeGreaterThanOrEqual(before + 3_600_000 - 1000);
    expect(exp).toBeLessThanOrEqual(Date.now() + 3_600_000);
    expect(a.AssumedRoleUser?.Arn).toBe('arn:aws:sts::111122223333:assumed-role/custody-writer/custody-acme');

    for (const bad of [() => assume(ROLE, 'wrong'), () => assume(ROLE, null), () => assume(OTHER_ROLE)]) {
      expect(await failure(bad())).toEqual({ name: 'AccessDenied', status: 403 });
    }
    expect(aws.counts.AssumeRole).toBe(5);
    expect(aws.callsOf('AssumeRole')[1]).toEqual({
      operation: 'AssumeRole',
      roleArn: ROLE,
      externalId: EXTERNAL_ID,
      roleSessionName: 'custody-acme',
      durationSeconds: 900,
    });
  });

  it('denyRole / allowRole switch the trust policy', async () => {
    aws.denyRole(ROLE);
    expect((await failure(assume())).name).toBe('AccessDenied');
    aws.allowRole(ROLE);
    await expect(assume()).resolves.toBeDefined();
  });

  it('session credentials work on KMS only with the granted key and the role’s tenant context', async () => {
    const key = aws.createKey();
    const kms = await sessionKms();
    try {
      // No grant yet: even the right context is refused.
      expect(
        await failure(
          kms.generateDataKey({ KeyId: key, KeySpec: 'AES_256', EncryptionContext: ctx('acme') }),
        ),
      ).toEqual({ name: 'AccessDeniedException', status: 400 });
      aws.grantRole(key, ROLE);
      const dk = await kms.generateDataKey({ KeyId: key, NumberOfBytes: 32, EncryptionContext: ctx('acme') });
      expect(dk.KeyId).toBe(key);
      const back = await kms.decrypt({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ctx('acme') });
      expect(Buffer.from(back.Plaintext!).equals(Buffer.from(dk.Plaintext!))).toBe(true);
      // Another tenant's context, or none: the condition fails.
      for (const call of [
        () => kms.generateDataKey({ KeyId: key, NumberOfBytes: 32, EncryptionContext: ctx('globex') }),
        () => kms.encrypt({ KeyId: key, Plaintext: Buffer.from('x') }),
        () => kms.decrypt({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ctx('globex') }),
      ]) {
        expect((await failure(call())).name).toBe('AccessDeniedException');
      }
      // DescribeKey needs no context.
      expect((await kms.describeKey({ KeyId: key })).KeyMetadata?.Arn).toBe(key);
      expect(aws.callsOf('GenerateDataKey').map((c) => c.callerRole)).toEqual([ROLE, ROLE, ROLE]);
    } finally {
      kms.destroy();
    }
  });

  it('the owner (no session token) needs no grant; the context is still bound to the blob', async () => {
    const key = aws.createKey('eu-west-1');
    const kms = new KMS({
      region: 'eu-west-1',
      endpoint: aws.endpoint,
      credentials: await owner.config.credentials(),
      maxAttempts: 1,
    });
    try {
      const enc = await kms.encrypt({
        KeyId: key,
        Plaintext: Buffer.from('hello'),
        EncryptionContext: ctx('x'),
      });
      const dec = await kms.decrypt({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctx('x') });
      expect(Buffer.from(dec.Plaintext!).toString()).toBe('hello');
      expect(
        (await failure(kms.decrypt({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctx('y') })))
          .name,
      ).toBe('InvalidCiphertextException');
      const tampered = Buffer.from(enc.CiphertextBlob!);
      tampered[tampered.length - 1]! ^= 1;
      expect(
        (await failure(kms.decrypt({ CiphertextBlob: tampered, EncryptionContext: ctx('x') }))).name,
      ).toBe('InvalidCiphertextException');
      expect(aws.callsOf('Encrypt')[0]).toMatchObject({ callerRole: undefined, region: 'eu-west-1' });
    } finally {
      kms.destroy();
    }
  });

  it('tokens the stand-in did not issue, or that expired, are rejected like AWS does', async () => {
    const key = aws.createKey();
    const forged = new KMS({
      region: 'us-east-1',
      endpoint: aws.endpoint,
      maxAttempts: 1,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 's', sessionToken: 'not-issued' },
    });
    const kms = await sessionKms();
    try {
      expect(await failure(forged.describeKey({ KeyId: key }))).toEqual({
        name: 'UnrecognizedClientException',
        status: 400,
      });
      aws.grantRole(key, ROLE);
      aws.expireSessions();
      expect((await failure(kms.describeKey({ KeyId: key }))).name).toBe('ExpiredTokenException');
    } finally {
      forged.destroy();
      kms.destroy();
    }
  });

  it('key states: disabled, pending deletion, denied and unknown keys fail with AWS’s names', async () => {
    const key = aws.createKey();
    const use = () =>
      owner.generateDataKey({ KeyId: key, NumberOfBytes: 32, EncryptionContext: ctx('acme') });
    aws.disable(key);
    expect(await failure(use())).toEqual({ name: 'DisabledException', status: 400 });
    expect((await owner.describeKey({ KeyId: key })).KeyMetadata).toMatchObject({
      Arn: key,
      KeyId: key.split('/').pop(),
      Enabled: false,
      KeyState: 'Disabled',
      KeyUsage: 'ENCRYPT_DECRYPT',
      KeySpec: 'SYMMETRIC_DEFAULT',
      KeyManager: 'CUSTOMER',
    });
    aws.scheduleDeletion(key);
    expect((await failure(use())).name).toBe('KMSInvalidStateException');
    const pending = (await owner.describeKey({ KeyId: key })).KeyMetadata;
    expect(pending?.KeyState).toBe('PendingDeletion');
    // 30 days out (the stand-in's default waiting period), as a date the SDK parses.
    expect(pending?.DeletionDate).toBeInstanceOf(Date);
    expect(pending!.DeletionDate!.getTime() - Date.now()).toBeGreaterThan(29 * 86_400_000);
    // CancelKeyDeletion leaves the key Disabled, with no deletion date, as KMS does.
    aws.cancelDeletion(key);
    const cancelled = (await owner.describeKey({ KeyId: key })).KeyMetadata;
    expect(cancelled).toMatchObject({ KeyState: 'Disabled', Enabled: false });
    expect(cancelled?.DeletionDate).toBeUndefined();
    expect((await failure(use())).name).toBe('DisabledException');
    aws.enable(key);
    expect((await owner.describeKey({ KeyId: key })).KeyMetadata).toMatchObject({
      Enabled: true,
      KeyState: 'Enabled',
    });
    await expect(use()).resolves.toBeDefined();
    aws.deny(key);
    expect((await failure(use())).name).toBe('AccessDeniedException');
    const ghost = 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000';
    expect((await failure(owner.describeKey({ KeyId: ghost }))).name).toBe('NotFoundException');
    expect((await failure(owner.encrypt({ KeyId: ghost, Plaintext: Buffer.from('x') }))).name).toBe(
      'NotFoundException',
    );
  });

  it('failNext injects throttling and internal errors, counted; the SDK retries them', async () => {
    const key = aws.createKey();
    aws.failNext('DescribeKey', 'ThrottlingException');
    aws.failNext('AssumeRole', 'InternalFailure');
    expect(await failure(owner.describeKey({ KeyId: key }))).toEqual({
      name: 'ThrottlingException',
      status: 400,
    });
    expect(await failure(assume())).toEqual({ name: 'InternalFailure', status: 500 });
    await expect(owner.describeKey({ KeyId: key })).resolves.toBeDefined();

    aws.failNext('GenerateDataKey', 'KMSInternalException', 2);
    const retrying = new KMS({
      region: 'us-east-1',
      endpoint: aws.endpoint,
      credentials: await owner.config.credentials(),
      maxAttempts: 3,
    });
    try {
      await retrying.generateDataKey({ KeyId: key, NumberOfBytes: 32 });
    } finally {
      retrying.destroy();
    }
    expect(aws.counts).toEqual({ AssumeRole: 1, GenerateDataKey: 3, Encrypt: 0, Decrypt: 0, DescribeKey: 2 });
    aws.resetCounts();
    expect(aws.calls).toEqual([]);
    expect(aws.counts.GenerateDataKey).toBe(0);
  });
});
