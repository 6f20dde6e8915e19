import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AwsWorld,
  type S3Tenant,
  s3Body,
  setupS3Tenant,
  startAwsHarness,
} from '../support/aws-world.js';
import type { Harness } from '../support/harness.js';
import { startKeyJob, waitForKeyJob } from '../support/key-jobs.js';
import { auditEntries, countAudit, metricValue, row } from '../support/observe.js';
import { PartCopyProxy } from '../support/part-copy-proxy.js';
import { type Rec, tenantRecordings } from '../support/tenant-recordings.js';

const MiB = 1024 * 1024;

/**
 * Rewrap and migrate on an S3 store that has UploadPartCopy (s3rver behind the part-copy
 * stand-in): a large recording's new object is its new header plus the first 5 MiB sent
 * from here, and the rest copied inside the store; small ones stream. Everything plays
 * afterwards through the tenant's key, with the old key disabled.
 */
describe('rewrap and migrate with S3 server-side copy', () => {
  let world: AwsWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let proxy: PartCopyProxy;
  let t: S3Tenant;
  let newKey: string;
  const recs: Rec[] = [];
  const { post, register, expectAllPlay } = tenantRecordings(() => ({ h, tenant: t }), 'server-copy');

  beforeAll(async () => {
    ({ world, h, close } = await startAwsHarness());
    proxy = await new PartCopyProxy(world.s3).start();
    t = await setupS3Tenant(h, world, 'ssc-aws', { register: false });
    await registerViaProxy({ keyArn: t.keyArn });
    for (const size of [12 * MiB + 4321, 40_000]) recs.push(await post(size));
  });
  afterAll(async () => {
    await close?.();
    await proxy?.stop();
  });

  /** Registers the tenant's bucket (or `bucket`) through the proxy, with `keyArn`. */
  function registerViaProxy(o: { keyArn: string; bucket?: string }): Promise<number> {
    const body = { ...s3Body(world, { ...t, keyArn: o.keyArn }), endpoint: proxy.endpoint };
    return register(o.bucket ? { ...body, bucket: o.bucket } : body);
  }

  const jobBytes = (kind: string, method: string) =>
    metricValue(h, 'custody_key_job_bytes_total', { kind, method });

  const objects = async (bucket: string) =>
    (
      (await world.s3.client().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${t.prefix}/` })))
        .Contents ?? []
    ).map((o) => o.Key!);

  it('rewrap: the large recording is copied server-side, the small one streamed; all play with the old key off', async () => {
    const [big, small] = recs as [Rec, Rec];
    const bigSize = (await row(h, big.id)).object_size;
    newKey = world.aws.createKey('us-east-1');
    world.aws.grantRole(newKey, t.roleArn);
    const oldKey = t.keyArn;
    expect(await registerViaProxy({ keyArn: newKey })).toBe(2);
    proxy.copies.length = 0;
    const readBefore = proxy.bytesRead;
    world.aws.resetCounts();

    const started = await startKeyJob(h, t.tenantId, { kind: 'rewrap', ratePerSecond: 100 });
    expect(await waitForKeyJob(h, t.tenantId, started.id)).toMatchObject({
      status: 'done',
      done: 2,
      failed: 0,
    });
    expect(world.aws.counts.Encrypt).toBe(2);

    // The large one: part 2 (the only copy part at 64 MiB) copied from its old object.
    const bigOld = `${world.s3.bucket}/${t.prefix}/`;
    expect(proxy.copies).toHaveLength(1);
    expect(proxy.copies[0]).toMatchObject({ partNumber: 2 });
    expect(
      proxy.copies[0]!.source.startsWith(bigOld) && proxy.copies[0]!.source.endsWith(`${big.id}.esdk`),
    ).toBe(true);
    const copied = await jobBytes('rewrap', 'server-copy');
    expect(copied).toBeGreaterThan(bigSize - 5 * MiB - 4096);
    expect(copied).toBeLessThan(bigSize - 5 * MiB);
    // What came through this process: the first 5 MiB, the small recording, headers,
    // sidecars and verification frames. Far less than the large recording.
    const read = proxy.bytesRead - readBefore;
    expect(read).toBeGreaterThan(5 * MiB);
    expect(read).toBeLessThan(bigSize - 4 * MiB);
    for (const r of [big, small]) {
      const rr = await row(h, r.id);
      expect([rr.storage_version, rr.key_id]).toEqual([2, newKey]);
    }
    expect((await objects(world.s3.bucket)).filter((k) => !k.endsWith('.meta.json.esdk'))).toHaveLength(2);

    world.aws.disable(oldKey);
    await expectAllPlay(recs);
    expect(countAudit(await auditEntries(h, t.tenantId), 'recording.rewrapped', big.id)).toBe(1);
  });

  it('migrate to another bucket with the same key: copied server-side as it is, nothing rewrapped', async () => {
    await world.s3.client().send(new CreateBucketCommand({ Bucket: 'custody-ssc-moved' }));
    const v3 = await registerViaProxy({ keyArn: newKey, bucket: 'custody-ssc-moved' });
    proxy.copies.length = 0;
    world.aws.resetCounts();
    const started = await startKeyJob(h, t.tenantId, { kind: 'migrate', ratePerSecond: 100 });
    expect(await waitForKeyJob(h, t.tenantId, started.id)).toMatchObject({ status: 'done', done: 2 });
    expect([world.aws.counts.Encrypt, world.aws.counts.GenerateDataKey]).toEqual([0, 0]);
    expect(proxy.copies.map((c) => c.source.split('/')[0])).toEqual([world.s3.bucket]);
    expect(await jobBytes('migrate', 'server-copy')).toBeGreaterThan(7 * MiB);
    expect(await objects(world.s3.bucket)).toEqual([]);
    expect(await objects('custody-ssc-moved')).toHaveLength(4);
    for (const r of recs) expect((await row(h, r.id)).storage_version).toBe(v3);
    await expectAllPlay(recs);
  });
});
