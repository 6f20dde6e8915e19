import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import {
  GetObjectCommand,
  GetObjectLegalHoldCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AwsWorld,
  S3_HANDSHAKE_STEPS,
  type S3Tenant,
  s3Body,
  setupS3Tenant,
  startAwsHarness,
} from '../support/aws-world.js';
import { api, postRecording } from '../support/client.js';
import { expectHandshakeFailedAt } from '../support/handshake-checks.js';
import type { Harness } from '../support/harness.js';
import { type ObjectLock, ObjectLockProxy } from '../support/object-lock-proxy.js';
import { row, waitForAll } from '../support/observe.js';
import { type Rec, tenantRecordings } from '../support/tenant-recordings.js';
const MiB = 1024 * 1024;

/** A WORM registration adds `object-lock` right after `put-probe`. */
const STEPS = [...S3_HANDSHAKE_STEPS.slice(0, 3), 'object-lock', ...S3_HANDSHAKE_STEPS.slice(3)];

const sidecarKey = (audioKey: string) => audioKey.replace(/\.esdk$/, '.meta.json.esdk');
const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

/**
 * S3 Object Lock through the real service: the tenant's bucket is s3rver behind a stand-in
 * that keeps real Object Lock state (`ObjectLockProxy`), so what Custody sends, retention on
 * each put, legal holds and deletes of locked objects, is checked against what S3 would keep.
 * Registered with `checksumMode: "default"`, as docs/aws-setup.md requires for WORM: S3 (and
 * the stand-in) refuse a locked put without a checksum.
 */
describe('S3 Object Lock (WORM) end to end', () => {
  let world: AwsWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let lockProxy: ObjectLockProxy;
  let noLockProxy: ObjectLockProxy;
  /** Through the stand-in, as a tenant's tooling would ask S3. */
  let s3: S3Client;
  /** Straight to s3rver: what is in view. */
  let direct: S3Client;
  let t: S3Tenant;
  let bucket: string;
  const recs: Rec[] = [];
  let held: Rec;
  const { post, register, runKeyJob, expectPlays } = tenantRecordings(() => ({ h, tenant: t }), 'worm');

  const wormBody = (tenant: S3Tenant, endpoint: string, keyArn = tenant.keyArn) => ({
    ...s3Body(world, { ...tenant, keyArn }),
    endpoint,
    checksumMode: 'default',
    objectLock: { mode: 'GOVERNANCE' },
  });

  beforeAll(async () => {
    // Workers start once a recording must wait for its transfer (the hold-before-store case).
    ({ world, h, close } = await startAwsHarness({ workers: false }));
    bucket = world.s3.bucket;
    lockProxy = await new ObjectLockProxy(world.s3, { objectLock: true }).start();
    noLockProxy = await new ObjectLockProxy(world.s3, { objectLock: false }).start();
    s3 = world.s3.client(lockProxy.endpoint);
    direct = world.s3.client();
    t = await setupS3Tenant(h, world, 'worm-s3', { register: false });
  });
  afterAll(async () => {
    await lockProxy?.stop();
    await noLockProxy?.stop();
    await close?.();
  });

  /** The bucket key of a recording's stored object (or its sidecar), from its row. */
  async function keysOf(id: string): Promise<{ audio: string; sidecar: string; expiresAt: Date }> {
    const r = await row(h, id);
    const audio = `${t.prefix}/${r.object_key}`;
    return { audio, sidecar: sidecarKey(audio), expiresAt: r.expires_at };
  }

  /** The lock state, its retain-until date in whole seconds (compared to the second). */
  function lockOf(key: string): (Omit<ObjectLock, 'retainUntil'> & { retainUntil?: number }) | undefined {
    const lock = lockProxy.lockOf(bucket, key);
    if (!lock) return undefined;
    const { retainUntil, ...rest } = lock;
    return { ...rest, ...(retainUntil ? { retainUntil: seconds(retainUntil) } : {}) };
  }

  const retained = (expiresAt: Date, legalHold: boolean) => ({
    mode: 'GOVERNANCE',
    retainUntil: seconds(expiresAt),
    legalHold,
  });

  async function inView(key: string): Promise<boolean> {
    try {
      await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (err) {
      if ((err as { name?: string }).name === 'NotFound') return false;
      throw err;
    }
  }

  async function objectBytes(key: string): Promise<Buffer> {
    const out = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  }

  const putHold = (id: string, hold: boolean) =>
    api(h, 'PUT', `/v1/recordings/${id}/legal-hold`, {
      token: t.key,
      json: { hold, ...(hold ? { reason: 'litigation 42' } : {}) },
    });

  it('registration against a bucket without Object Lock fails at the object-lock step and activates nothing', async () => {
    const bare = await setupS3Tenant(h, world, 'worm-nolock', { register: false });
    const res = await api(h, 'PUT', '/v1/tenants/worm-nolock/storage', {
      json: wormBody(bare, noLockProxy.endpoint),
    });
    expectHandshakeFailedAt(res, STEPS, {
      step: 'object-lock',
      code: 'ObjectLockConfigurationNotFoundError',
      advice: /Enable Object Lock on the bucket/,
    });
    expect((await api(h, 'GET', '/v1/tenants/worm-nolock/storage')).body).toEqual({
      active: null,
      history: [],
    });
    // The probe written before the check is removed on the way out.
    const left = await direct.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${bare.prefix}/` }));
    expect(left.Contents ?? []).toEqual([]);
  });

  it('registration with objectLock runs the object-lock step against a bucket with Object Lock', async () => {
    const res = await api(h, 'PUT', `/v1/tenants/${t.tenantId}/storage`, {
      json: wormBody(t, lockProxy.endpoint),
    });
    expect(res.status, res.bytes.toString()).toBe(200);
    expect(res.body).toMatchObject({ version: 1, status: 'active' });
    const steps = res.body.handshake.steps as { name: string; ok: boolean }[];
    expect(steps.map((s) => s.name)).toEqual(STEPS);
    expect(steps.every((s) => s.ok)).toBe(true);
    expect(lockProxy.requests.filter((r) => r.method === 'GET' && /\?object-lock/.test(r.path))).toHaveLength(
      1,
    );
    // The probe is put without retention, so its delete removed it for good.
    expect(lockProxy.retainedVersions).toEqual([]);
  });

  it('a recording held before it is stored is put with the hold on from the start', async () => {
    held = await post(30_000, { wait: false });
    const hold = await putHold(held.id, true);
    expect(hold.status, hold.bytes.toString()).toBe(200);
    expect(hold.body).toMatchObject({ legalHold: true });
    expect((await row(h, held.id)).status).not.toBe('stored');

    await h.startWorkers();
    await waitForAll(h, t.key, [held.id], ['stored']);
    const { audio, sidecar, expiresAt } = await keysOf(held.id);
    expect(lockOf(audio)).toEqual(retained(expiresAt, true));
    // The sidecar holds personal data too: held with the audio.
    expect(lockOf(sidecar)).toEqual(retained(expiresAt, true));
    // The hold rode on both puts: no PutObjectLegalHold was needed afterwards.
    expect(lockProxy.requests.filter((r) => r.method === 'PUT' && r.path.includes('legal-hold'))).toEqual([]);
    await expectPlays(held);
  });

  it('a stored recording and its sidecar are retained until the row’s expires_at, without a hold', async () => {
    // A single PutObject, and a multipart upload (lib-storage's 8 MiB parts).
    recs.push(await post(40_000), await post(9 * MiB + 321));
    for (const r of recs) {
      const { audio, sidecar, expiresAt } = await keysOf(r.id);
      expect(lockOf(audio), `lock of ${audio}`).toEqual(retained(expiresAt, false));
      expect(lockOf(sidecar), `lock of ${sidecar}`).toEqual(retained(expiresAt, false));
      // As the S3 API reports it.
      const retention = await s3.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: audio }));
      expect(retention.Retention?.Mode).toBe('GOVERNANCE');
      expect(seconds(retention.Retention!.RetainUntilDate!)).toBe(seconds(expiresAt));
      const legal = await s3.send(new GetObjectLegalHoldCommand({ Bucket: bucket, Key: audio }));
      expect(legal.LegalHold?.Status).toBe('OFF');
      await expectPlays(r);
    }
  });

  it('the legal-hold route sets the hold on the stored audio object and its sidecar, and releasing clears both', async () => {
    const r = recs[0]!;
    const { audio, sidecar, expiresAt } = await keysOf(r.id);
    const on = await putHold(r.id, true);
    expect(on.status, on.bytes.toString()).toBe(200);
    expect(lockOf(audio)).toEqual(retained(expiresAt, true));
    expect(lockOf(sidecar)).toEqual(retained(expiresAt, true));
    expect(
      (await s3.send(new GetObjectLegalHoldCommand({ Bucket: bucket, Key: audio }))).LegalHold?.Status,
    ).toBe('ON');
    // A held recording cannot be deleted.
    const refused = await api(h, 'DELETE', `/v1/recordings/${r.id}`, { token: t.key });
    expect(refused.status).toBe(409);

    const off = await putHold(r.id, false);
    expect(off.status, off.bytes.toString()).toBe(200);
    expect(off.body).toMatchObject({ legalHold: false });
    expect(lockOf(audio)).toEqual(retained(expiresAt, false));
    expect(lockOf(sidecar)).toEqual(retained(expiresAt, false));
    expect(
      (await s3.send(new GetObjectLegalHoldCommand({ Bucket: bucket, Key: audio }))).LegalHold?.Status,
    ).toBe('OFF');
  });

  it('rotation and rewrap: new objects carry the recordings’ retention and holds; the old ones stay retained', async () => {
    const newKey = world.aws.createKey('us-east-1');
    world.aws.grantRole(newKey, t.roleArn);
    expect(await register(wormBody(t, lockProxy.endpoint, newKey))).toBe(2);

    const all = [held, ...recs];
    const before = new Map<string, { audio: string; sidecar: string; bytes: Buffer }>();
    for (const r of all) {
      const { audio, sidecar } = await keysOf(r.id);
      before.set(r.id, { audio, sidecar, bytes: await objectBytes(audio) });
    }

    await runKeyJob({ kind: 'rewrap', ratePerSecond: 100 }, all.length);

    for (const r of all) {
      const now = await row(h, r.id);
      expect(now.storage_version).toBe(2);
      expect(now.object_key.endsWith(`${r.id}.v2.esdk`)).toBe(true);
      const { audio, sidecar, expiresAt } = await keysOf(r.id);
      expect(lockOf(audio), `lock of ${audio}`).toEqual(retained(expiresAt, now.legal_hold));
      expect(lockOf(sidecar), `lock of ${sidecar}`).toEqual(retained(expiresAt, now.legal_hold));

      // The old object and its sidecar left view, but S3 kept their locked versions.
      const old = before.get(r.id)!;
      expect(await inView(old.audio)).toBe(false);
      expect(await inView(old.sidecar)).toBe(false);
      const kept = lockProxy.retainedVersions.filter((v) => v.key === old.audio);
      expect(kept, `retained versions of ${old.audio}`).toHaveLength(1);
      expect(kept[0]).toMatchObject({ reason: 'deleted', mode: 'GOVERNANCE', legalHold: now.legal_hold });
      expect(seconds(kept[0]!.retainUntil!)).toBe(seconds(expiresAt));
      expect(kept[0]!.bytes.equals(old.bytes)).toBe(true);
      expect(lockProxy.retainedVersions.filter((v) => v.key === old.sidecar)).toHaveLength(1);
      await expectPlays(r);
    }
    // The held recording kept its hold through the job.
    expect((await row(h, held.id)).legal_hold).toBe(true);
  });

  it('a data-subject deletion takes the objects out of view; their retained versions remain', async () => {
    const r = recs[1]!;
    const { audio, sidecar, expiresAt } = await keysOf(r.id);
    const bytes = await objectBytes(audio);
    const res = await api(h, 'DELETE', `/v1/recordings/${r.id}`, { token: t.key });
    expect(res.status, res.bytes.toString()).toBe(202);
    await waitForAll(h, t.key, [r.id], ['deleted']);

    expect(await inView(audio)).toBe(false);
    expect(await inView(sidecar)).toBe(false);
    expect(lockProxy.lockOf(bucket, audio)).toBeUndefined();
    const kept = lockProxy.retainedVersions.filter((v) => v.key === audio);
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatchObject({ reason: 'deleted', mode: 'GOVERNANCE', legalHold: false });
    expect(seconds(kept[0]!.retainUntil!)).toBe(seconds(expiresAt));
    expect(kept[0]!.bytes.equals(bytes)).toBe(true);
    expect(lockProxy.retainedVersions.filter((v) => v.key === sidecar)).toHaveLength(1);
  });

  it('a retention deletion at expiry meets a lock that has just ended: nothing stays retained', async () => {
    const short = await setupS3Tenant(h, world, 'worm-expiry', { retention: 'PT8S', register: false });
    const reg = await api(h, 'PUT', '/v1/tenants/worm-expiry/storage', {
      json: wormBody(short, lockProxy.endpoint),
    });
    expect(reg.status, reg.bytes.toString()).toBe(200);
    const posted = await postRecording(h, short.key, randomBytes(20_000), { callId: 'expiry' });
    expect(posted.status).toBe(202);
    const id = posted.body.id as string;
    await waitForAll(h, short.key, [id], ['stored']);
    const r = await row(h, id);
    const audio = `${short.prefix}/${r.object_key}`;
    expect(lockOf(audio)).toEqual(retained(r.expires_at, false));
    expect(lockOf(sidecarKey(audio))).toEqual(retained(r.expires_at, false));

    // Retention compares with the clock: wait until the expiry is in the past.
    await waitUntilPast(r.expires_at);
    const run = await api(h, 'POST', '/v1/tenants/worm-expiry/retention/run');
    expect(run.body).toEqual({ deleted: 1, kept: { legalHold: 0 } });
    await waitForAll(h, short.key, [id], ['deleted']);
    expect(await inView(audio)).toBe(false);
    expect(await inView(sidecarKey(audio))).toBe(false);
    // Retention until expires_at: the store's lock ends when Custody's retention does.
    expect(lockProxy.retainedVersions.filter((v) => v.key.startsWith(`${short.prefix}/`))).toEqual([]);
  });
});

async function waitUntilPast(when: Date): Promise<void> {
  while (Date.now() <= when.getTime() + 50) await delay(Math.max(10, when.getTime() + 60 - Date.now()));
}
