import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AwsWorld,
  type S3Tenant,
  s3Body,
  setupS3Tenant,
  startAwsHarness,
} from '../support/aws-world.js';
import { FaultProxy } from '../support/fault-proxy.js';
import type { Harness } from '../support/harness.js';
import { startKeyJob, waitForKeyJob } from '../support/key-jobs.js';
import { metricValue, waitUntil } from '../support/observe.js';
import { type Rec, tenantRecordings } from '../support/tenant-recordings.js';

/**
 * A key job works on several recordings at once (`CUSTODY_KEY_JOB_CONCURRENCY`): against a
 * store some way off (every request delayed), the job's items are seen in flight together,
 * and every recording still ends rewrapped once and playable.
 */
describe('key job concurrency on S3', () => {
  let world: AwsWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let distant: FaultProxy;
  let t: S3Tenant;
  const recs: Rec[] = [];
  const tenant = tenantRecordings(() => ({ h, tenant: t }), 'concurrency');

  beforeAll(async () => {
    ({ world, h, close } = await startAwsHarness({ env: { CUSTODY_KEY_JOB_CONCURRENCY: '3' } }));
    distant = await new FaultProxy(world.s3.endpoint).start();
    t = await setupS3Tenant(h, world, 'kjc-aws', { register: false });
    await tenant.register({ ...s3Body(world, t), endpoint: distant.endpoint });
    for (const size of [30_000, 40_000, 50_000, 60_000]) recs.push(await tenant.post(size));
  });
  afterAll(async () => {
    await close?.();
    await distant?.stop();
  });

  it('has up to three recordings of one rewrap job in flight at once; each ends rewrapped once', async () => {
    const newKey = world.aws.createKey('us-east-1');
    world.aws.grantRole(newKey, t.roleArn);
    expect(
      await tenant.register({ ...s3Body(world, { ...t, keyArn: newKey }), endpoint: distant.endpoint }),
    ).toBe(2);
    // Every store request now waits 50 ms: a recording's rewrap takes a dozen of them.
    distant.latencyMs = 50;
    const started = await startKeyJob(h, t.tenantId, { kind: 'rewrap', ratePerSecond: 1000 });
    const inFlight = async () =>
      (
        await h.ctx.db.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM key_job_items WHERE job_id = $1 AND state = 'copying'",
          [started.id],
        )
      ).rows[0]!.n;
    let most = 0;
    await waitUntil(
      'the job to end',
      async () => {
        most = Math.max(most, await inFlight());
        return (
          (
            await h.ctx.db.query('SELECT 1 FROM key_jobs WHERE id = $1 AND status <> $2', [
              started.id,
              'running',
            ])
          ).rowCount === 1
        );
      },
      undefined,
      10,
    );
    expect(most, 'items being copied at the same time').toBeGreaterThanOrEqual(2);
    expect(most).toBeLessThanOrEqual(3);
    expect(await waitForKeyJob(h, t.tenantId, started.id)).toMatchObject({
      status: 'done',
      done: 4,
      failed: 0,
    });
    expect(
      await metricValue(h, 'custody_key_job_recordings_total', { kind: 'rewrap', outcome: 'done' }),
    ).toBe(4);
    distant.latencyMs = 0;
    world.aws.disable(t.keyArn);
    for (const r of recs) await tenant.expectPlays(r);
  });
});
