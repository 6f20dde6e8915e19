import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeHeader } from '../../src/crypto/header.js';
import {
  type AwsWorld,
  type S3Tenant,
  s3Body,
  setupS3Tenant,
  startAwsHarness,
} from '../support/aws-world.js';
import type { Harness } from '../support/harness.js';
import { startKeyJob, waitForKeyJob } from '../support/key-jobs.js';
import { auditEntries, countAudit, row } from '../support/observe.js';
import { type Rec, tenantRecordings } from '../support/tenant-recordings.js';

const MiB = 1024 * 1024;

/**
 * Rotation on AWS: a second KMS key registered as a new storage version, rewrap onto it
 * (KMS `Encrypt` of the same data key, no new data key), the old key disabled, then a
 * re-encryption and a move to another bucket. Playback after each step goes through the
 * tenant's key with the data-key cache cleared, so a remembered key cannot hide a failure.
 */
describe('key rotation and storage switch on S3 + KMS', () => {
  let world: AwsWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let t: S3Tenant;
  let oldKey: string;
  let newKey: string;
  const recs: Rec[] = [];
  const { post, register, runKeyJob, expectAllPlay } = tenantRecordings(() => ({ h, tenant: t }), 'rotation');

  beforeAll(async () => {
    ({ world, h, close } = await startAwsHarness());
    t = await setupS3Tenant(h, world, 'kr-aws');
    oldKey = t.keyArn;
  });
  afterAll(async () => {
    await close?.();
  });

  const list = async (bucket: string) =>
    (
      (await world.s3.client().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${t.prefix}/` })))
        .Contents ?? []
    ).map((o) => o.Key!);

  /** Per recording: exactly one audio object and its metadata sidecar beside it; nothing else. */
  function expectOneEach(keys: string[], ids: string[]): void {
    expect(keys, 'no stray objects').toHaveLength(2 * ids.length);
    for (const id of ids) {
      const mine = keys.filter((k) => k.includes(id));
      const audio = mine.filter((k) => !k.endsWith('.meta.json.esdk'));
      expect(audio, `objects of ${id}`).toHaveLength(1);
      expect(mine.filter((k) => k.endsWith('.meta.json.esdk'))).toEqual([
        audio[0]!.replace(/\.esdk$/, '.meta.json.esdk'),
      ]);
    }
  }

  /** The stored object's (or its sidecar's) header: which KMS key wraps its data key, and the wrapped bytes. */
  async function headerOf(id: string, sidecar = false) {
    const r = await row(h, id);
    const bucket = r.location.startsWith(`s3://${world.s3.bucket}/`) ? world.s3.bucket : 'custody-moved';
    const key = sidecar ? r.object_key.replace(/\.esdk$/, '.meta.json.esdk') : r.object_key;
    const out = await world.s3
      .client()
      .send(new GetObjectCommand({ Bucket: bucket, Key: `${t.prefix}/${key}`, Range: 'bytes=0-4095' }));
    const parsed = decodeHeader(Buffer.from(await out.Body!.transformToByteArray()))!;
    return {
      messageId: Buffer.from(parsed.header.messageId),
      edks: parsed.header.encryptedDataKeys.map((e) => ({
        keyArn: e.providerInfo,
        wrapped: Buffer.from(e.encryptedDataKey),
      })),
    };
  }

  it('rotate: recordings from before play under the old key, new ones land under the new key', async () => {
    recs.push(await post(9 * MiB + 123), await post(40_000));
    newKey = world.aws.createKey('us-east-1');
    world.aws.grantRole(newKey, t.roleArn);
    const v2 = await register(s3Body(world, { ...t, keyArn: newKey }));
    expect(v2).toBe(2);
    recs.push(await post(9_000));
    expect((await row(h, recs[0]!.id)).key_id).toBe(oldKey);
    expect((await row(h, recs[2]!.id)).key_id).toBe(newKey);
    expect((await headerOf(recs[2]!.id)).edks.map((e) => e.keyArn)).toEqual([newKey]);
    await expectAllPlay(recs);
  });

  it('rewrap all: one KMS Encrypt per recording, no new data key; the old key disabled, all still play', async () => {
    const before = [await headerOf(recs[0]!.id), await headerOf(recs[1]!.id)];
    world.aws.resetCounts();
    await runKeyJob({ kind: 'rewrap', ratePerSecond: 100 }, 2);
    expect(world.aws.counts.Encrypt).toBe(2);
    expect(world.aws.counts.GenerateDataKey).toBe(0);
    for (const [i, r] of recs.slice(0, 2).entries()) {
      const now = await headerOf(r.id);
      // The same message (and data key), wrapped by the new key only.
      expect(now.messageId.equals(before[i]!.messageId)).toBe(true);
      expect(now.edks.map((e) => e.keyArn)).toEqual([newKey]);
      // Its sidecar moved with it, its header rewritten in the same KMS Encrypt: the same EDK.
      const side = await headerOf(r.id, true);
      expect(side.edks).toEqual(now.edks);
      expect(side.messageId.equals(now.messageId)).toBe(false);
      const rr = await row(h, r.id);
      expect([rr.storage_version, rr.key_id, rr.object_key.endsWith(`${r.id}.v2.esdk`)]).toEqual([
        2,
        newKey,
        true,
      ]);
    }
    // One object (and its sidecar) per recording: the rewrapped copies replaced the old ones.
    expectOneEach(
      await list(world.s3.bucket),
      recs.map((r) => r.id),
    );

    world.aws.disable(oldKey);
    await expectAllPlay(recs);
    const audit = await auditEntries(h, t.tenantId);
    for (const r of recs.slice(0, 2)) expect(countAudit(audit, 'recording.rewrapped', r.id)).toBe(1);
  });

  it('re-encrypt one recording: its data key changes (new EDK and message id) and it plays', async () => {
    const target = recs[0]!;
    const before = await headerOf(target.id);
    world.aws.resetCounts();
    const started = await startKeyJob(h, t.tenantId, { kind: 'reencrypt', recordingIds: [target.id] });
    expect((await waitForKeyJob(h, t.tenantId, started.id)).status).toBe('done');
    expect(world.aws.counts.GenerateDataKey).toBe(1);
    const after = await headerOf(target.id);
    expect(after.messageId.equals(before.messageId)).toBe(false);
    expect(after.edks[0]!.wrapped.equals(before.edks[0]!.wrapped)).toBe(false);
    expect(after.edks.map((e) => e.keyArn)).toEqual([newKey]);
    expectOneEach(
      await list(world.s3.bucket),
      recs.map((r) => r.id),
    );
    // A fresh sidecar under the new data key (the same GenerateDataKey).
    expect((await headerOf(target.id, true)).edks).toEqual(after.edks);
    await expectAllPlay(recs);
    expect(countAudit(await auditEntries(h, t.tenantId), 'recording.reencrypted', target.id)).toBe(1);
  });

  it('switch bucket: new recordings land in the new one, old play from the old; migrate moves them', async () => {
    await world.s3.client().send(new CreateBucketCommand({ Bucket: 'custody-moved' }));
    const v3 = await register({ ...s3Body(world, { ...t, keyArn: newKey }), bucket: 'custody-moved' });
    recs.push(await post(12_345));
    expectOneEach(await list('custody-moved'), [recs[3]!.id]);
    expectOneEach(
      await list(world.s3.bucket),
      recs.slice(0, 3).map((r) => r.id),
    );
    await expectAllPlay(recs);

    world.aws.resetCounts();
    const started = await startKeyJob(h, t.tenantId, { kind: 'migrate', ratePerSecond: 100 });
    expect(started.total).toBe(3);
    expect(await waitForKeyJob(h, t.tenantId, started.id)).toMatchObject({ status: 'done', done: 3 });
    // Same key on both versions: the bytes are copied as they are, nothing is rewrapped.
    expect([world.aws.counts.Encrypt, world.aws.counts.GenerateDataKey]).toEqual([0, 0]);
    expect(await list(world.s3.bucket)).toEqual([]);
    const moved = await list('custody-moved');
    expectOneEach(
      moved,
      recs.map((r) => r.id),
    );
    for (const r of recs) expect((await row(h, r.id)).storage_version).toBe(v3);
    await expectAllPlay(recs);
  });
});
