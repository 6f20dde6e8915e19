import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { ListObjectsV2Command, GetObjectCommand } from '@aws-sdk/client-s3';
import { buildClient, CommitmentPolicy } from '@aws-crypto/client-node';
import { getClient, KmsKeyringNode } from '@aws-crypto/kms-keyring-node';
import { KMS } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, postRecording, waitForStatus } from '../support/client.js';
import { type Harness, startHarness } from '../support/harness.js';
import {
  S3_HANDSHAKE_STEPS,
  type AwsWorld,
  type S3Tenant,
  s3Body,
  setupS3Tenant,
  startAwsHarness,
  startAwsWorld,
} from '../support/aws-world.js';

const FRAME = 256 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('a recording’s whole journey on S3 + KMS (s3rver, STS and KMS stand-ins)', () => {
  let world: AwsWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let tenant: S3Tenant;
  let registration: any;
  const audio = randomBytes(3 * FRAME + 4321);
  let id: string;

  const objectKeys = async (prefix: string) => {
    const out = await world.s3
      .client()
      .send(new ListObjectsV2Command({ Bucket: world.s3.bucket, Prefix: prefix }));
    return (out.Contents ?? []).map((o) => o.Key!);
  };

  beforeAll(async () => {
    ({ world, h, close } = await startAwsHarness());
    tenant = await setupS3Tenant(h, world, 's3-journey', { register: false });
    const res = await api(h, 'PUT', '/v1/tenants/s3-journey/storage', {
      json: {
        provider: 's3',
        bucket: world.s3.bucket,
        region: 'us-east-1',
        prefix: tenant.prefix,
        roleArn: tenant.roleArn,
        kmsKeyArn: tenant.keyArn,
        endpoint: world.s3.endpoint,
        forcePathStyle: true,
        checksumMode: 'when-required',
      },
    });
    expect(res.status, res.bytes.toString()).toBe(200);
    registration = res.body;
    const posted = await postRecording(h, tenant.key, audio, { callId: 'call-s3' });
    expect(posted.status).toBe(202);
    id = posted.body.id;
    await waitForStatus(h, tenant.key, id, ['stored']);
  });
  afterAll(async () => {
    await close?.();
  });

  it('registers through a handshake whose every AWS step is named, timed and passed', () => {
    expect(registration).toMatchObject({ version: 1, status: 'active', handshake: { ok: true } });
    expect(registration.handshake.steps.map((s: any) => s.name)).toEqual([...S3_HANDSHAKE_STEPS]);
    for (const s of registration.handshake.steps) {
      expect(s.ok).toBe(true);
      expect(Number.isInteger(s.ms)).toBe(true);
    }
  });

  it('assumes the tenant’s role with its ExternalId and a session name naming the tenant', () => {
    const calls = world.aws.callsOf('AssumeRole') as any[];
    expect(calls.length).toBe(1);
    expect(calls[0]).toMatchObject({
      roleArn: tenant.roleArn,
      externalId: tenant.externalId,
      roleSessionName: 'custody-s3-journey',
    });
  });

  it('shows the storage config (with the ExternalId it was verified with), never a credential', async () => {
    const s = await api(h, 'GET', '/v1/tenants/s3-journey/storage');
    expect(s.body.active).toMatchObject({
      version: 1,
      provider: 's3',
      keyId: tenant.keyArn,
      config: {
        bucket: world.s3.bucket,
        prefix: tenant.prefix,
        roleArn: tenant.roleArn,
        kmsKeyArn: tenant.keyArn,
        externalId: tenant.externalId,
      },
    });
    expect(s.bytes.toString()).not.toMatch(/secretAccessKey|sessionToken|S3RVER/i);
  });

  it('stores only ciphertext under the tenant prefix in a Hive-style layout; probes are gone', async () => {
    const keys = await objectKeys(`${tenant.prefix}/`);
    // The audio object and, beside it, its encrypted metadata sidecar; nothing else.
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]!.replace(/\.esdk$/, '.meta.json.esdk'));
    const now = new Date();
    const y = now.getUTCFullYear();
    expect(keys[0]).toMatch(new RegExp(`^${tenant.prefix}/year=${y}/month=\\d{2}/day=\\d{2}/${id}\\.esdk$`));
    const out = await world.s3.client().send(new GetObjectCommand({ Bucket: world.s3.bucket, Key: keys[0] }));
    const stored = Buffer.from(await out.Body!.transformToByteArray());
    for (let at = 0; at + 32 <= audio.length; at += 997 * 31)
      expect(stored.includes(audio.subarray(at, at + 32))).toBe(false);
    const rec = (await api(h, 'GET', `/v1/recordings/${id}`, { token: tenant.key })).body;
    expect(rec.storage).toMatchObject({ provider: 's3', storageVersion: 1, keyId: tenant.keyArn });
    expect(rec.sha256).toBe(sha256(audio));
  });

  it('sovereignty: the object straight from the bucket decrypts with the official SDK and KMS alone', async () => {
    const keys = await objectKeys(`${tenant.prefix}/`);
    const objectKey = keys.find((k) => k.endsWith(`/${id}.esdk`))!;
    const get = async (Key: string) => {
      const out = await world.s3.client().send(new GetObjectCommand({ Bucket: world.s3.bucket, Key }));
      return Buffer.from(await out.Body!.transformToByteArray());
    };
    const stored = await get(objectKey);
    // The tenant's own credentials and the stock KMS keyring: no Custody code on this path.
    const keyring = new KmsKeyringNode({
      generatorKeyId: tenant.keyArn,
      clientProvider: getClient(KMS, {
        endpoint: world.aws.endpoint,
        credentials: { accessKeyId: 'tenant-owner', secretAccessKey: 'tenant-owner-secret' },
      }),
    });
    const { decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
    const { plaintext, messageHeader } = await decrypt(keyring, stored);
    expect(sha256(plaintext)).toBe(sha256(audio));
    expect(messageHeader.encryptionContext).toMatchObject({
      'custody:tenant': 's3-journey',
      'custody:recording': id,
    });
    // The metadata sidecar beside it opens the same way: the same KMS key, no Custody code.
    const kmsDecrypts = world.aws.callsOf('Decrypt').length;
    const sidecar = await decrypt(keyring, await get(objectKey.replace(/\.esdk$/, '.meta.json.esdk')));
    expect(world.aws.callsOf('Decrypt').length).toBe(kmsDecrypts + 1);
    expect(sidecar.messageHeader.encryptionContext).toEqual(messageHeader.encryptionContext);
    expect(JSON.parse(sidecar.plaintext.toString('utf8'))).toMatchObject({
      schema: 'https://custody.dev/schemas/recording-metadata/v1',
      recordingId: id,
      tenantId: 's3-journey',
      callId: 'call-s3',
      size: audio.length,
      sha256: sha256(audio),
    });
  });

  it('plays back through a signed link, whole and by ranges that cross frames', async () => {
    const link = await api(h, 'POST', `/v1/recordings/${id}/playback-link`, { token: tenant.key, json: {} });
    expect(link.status).toBe(201);
    const whole = await api(h, 'GET', link.body.url, { token: null });
    expect(whole.status).toBe(200);
    expect(whole.bytes.equals(audio)).toBe(true);
    for (const [a, b] of [
      [0, 0],
      [FRAME - 10, FRAME + 10],
      [2 * FRAME + 1, audio.length - 1],
    ] as const) {
      const part = await api(h, 'GET', link.body.url, { token: null, headers: { range: `bytes=${a}-${b}` } });
      expect(part.status).toBe(206);
      expect(part.headers.get('content-range')).toBe(`bytes ${a}-${b}/${audio.length}`);
      expect(part.bytes.equals(audio.subarray(a, b + 1))).toBe(true);
    }
  });
});

describe('retention on S3', () => {
  let world: AwsWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let tenant: S3Tenant;

  beforeAll(async () => {
    ({ world, h, close } = await startAwsHarness());
    tenant = await setupS3Tenant(h, world, 's3-retention', { retention: 'PT1S' });
  });
  afterAll(async () => {
    await close?.();
  });

  it('deletes expired recordings from the tenant’s bucket', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const posted = await postRecording(h, tenant.key, randomBytes(10_000), { callId: `ret-${i}` });
      ids.push(posted.body.id);
    }
    const recs = await Promise.all(ids.map((id) => waitForStatus(h, tenant.key, id, ['stored'])));
    const list = async () =>
      (
        await world.s3
          .client()
          .send(new ListObjectsV2Command({ Bucket: world.s3.bucket, Prefix: `${tenant.prefix}/` }))
      ).Contents ?? [];
    // Each recording's audio object and its metadata sidecar.
    expect(await list()).toHaveLength(4);
    expect((await list()).filter((o) => o.Key!.endsWith('.meta.json.esdk'))).toHaveLength(2);
    const lastExpiry = Math.max(...recs.map((r) => Date.parse(r.expiresAt)));
    // Retention compares with the clock: wait until the expiry is in the past.
    while (Date.now() <= lastExpiry + 50) await delay(Math.max(10, lastExpiry + 60 - Date.now()));
    const run = await api(h, 'POST', '/v1/tenants/s3-retention/retention/run');
    expect(run.body).toEqual({ deleted: 2, kept: { legalHold: 0 } });
    for (const id of ids) await waitForStatus(h, tenant.key, id, ['deleted']);
    expect(await list()).toHaveLength(0);
  });
});

describe('the operator’s AWS_ENDPOINT_URL_S3', () => {
  let world: AwsWorld;
  let h: Harness;

  beforeAll(async () => {
    world = await startAwsWorld();
    process.env.AWS_ENDPOINT_URL_S3 = world.s3.endpoint;
    h = await startHarness({ env: { ...world.env, CUSTODY_ALLOW_PRIVATE_ENDPOINTS: '' } });
  });
  afterAll(async () => {
    delete process.env.AWS_ENDPOINT_URL_S3;
    await h?.close();
    await world?.stop();
  });

  it('is where a tenant without an endpoint is stored (trusted: the SSRF guard is for tenants’ URLs)', async () => {
    const t = await setupS3Tenant(h, world, 's3-env-endpoint', { register: false });
    const { endpoint: _none, ...body } = s3Body(world, t);
    const res = await api(h, 'PUT', '/v1/tenants/s3-env-endpoint/storage', { json: body });
    expect(res.status, res.bytes.toString()).toBe(200);
    const audio = randomBytes(5000);
    const id = (await postRecording(h, t.key, audio)).body.id;
    await waitForStatus(h, t.key, id, ['stored']);
    const listed = await world.s3
      .client()
      .send(new ListObjectsV2Command({ Bucket: world.s3.bucket, Prefix: `${t.prefix}/` }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual([
      expect.stringMatching(new RegExp(`/${id}\\.esdk$`)),
      expect.stringMatching(new RegExp(`/${id}\\.meta\\.json\\.esdk$`)),
    ]);
  });
});
