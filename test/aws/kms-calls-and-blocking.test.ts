import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsWorld, type S3Tenant, setupS3Tenant, startAwsHarness } from '../support/aws-world.js';
import { api } from '../support/client.js';
import type { Harness } from '../support/harness.js';
import { expectBlockedThenDrained, postMany } from '../support/key-outage.js';
import { playBack, waitForAll } from '../support/observe.js';

describe('AWS calls per recording, counted by the stand-ins', () => {
  let world: AwsWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let tenant: S3Tenant;

  beforeAll(async () => {
    ({ world, h, close } = await startAwsHarness());
    tenant = await setupS3Tenant(h, world, 's3-calls');
  });
  afterAll(async () => {
    await close?.();
  });

  it('100 recordings cost exactly 1 AssumeRole (the handshake’s) and 100 GenerateDataKey', async () => {
    expect(world.aws.counts.AssumeRole).toBe(1);
    world.aws.resetCounts();
    const recs = await postMany(h, tenant.key, 100, 2048);
    await waitForAll(
      h,
      tenant.key,
      recs.map((r) => r.id),
      ['stored'],
    );
    expect(world.aws.counts.AssumeRole).toBe(0);
    expect(world.aws.counts.GenerateDataKey).toBe(100);
    // Verification reads the header back; it never unwraps the data key.
    expect(world.aws.counts.Decrypt).toBe(0);
    expect(world.aws.counts.Encrypt).toBe(0);
    for (const call of world.aws.callsOf('GenerateDataKey') as any[])
      expect(call.encryptionContext['custody:tenant']).toBe('s3-calls');
  });
});

describe('KMS throttling', () => {
  let world: AwsWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let tenant: S3Tenant;

  beforeAll(async () => {
    ({ world, h, close } = await startAwsHarness());
    tenant = await setupS3Tenant(h, world, 's3-throttled');
  });
  afterAll(async () => {
    await close?.();
  });

  it('is retried with backoff, never blocks, and the recording ends stored', async () => {
    // More throttles than the SDK's own three attempts: the job's backoff takes over.
    world.aws.failNext('GenerateDataKey', 'ThrottlingException', 4);
    const [rec] = await postMany(h, tenant.key, 1, 20_000);
    const [view] = await waitForAll(h, tenant.key, [rec!.id], ['stored']);
    expect(view.error ?? null).toBeNull();
    expect(world.aws.counts.GenerateDataKey).toBeGreaterThanOrEqual(1 + 5);
    expect((await playBack(h, tenant.key, rec!.id)).equals(rec!.audio)).toBe(true);
  });
});

describe('the tenant’s key disabled mid-run, then re-enabled', () => {
  let world: AwsWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let tenant: S3Tenant;

  beforeAll(async () => {
    ({ world, h, close } = await startAwsHarness({ env: { CUSTODY_BLOCKED_RETRY_SECONDS: '1' } }));
    tenant = await setupS3Tenant(h, world, 's3-disabled');
  });
  afterAll(async () => {
    await close?.();
  });

  it('blocks with DisabledException keeping the spooled copies, then drains to stored', async () => {
    await expectBlockedThenDrained(h, tenant, {
      code: 'DisabledException',
      size: 50_000,
      breakKey: () => world.aws.disable(tenant.keyArn),
      fixKey: () => world.aws.enable(tenant.keyArn),
      whileBroken: async (before) => {
        const objects = await world.s3
          .client()
          .send(new ListObjectsV2Command({ Bucket: world.s3.bucket, Prefix: `${tenant.prefix}/` }));
        // Only the two stored before: each an audio object and its metadata sidecar; nothing of the blocked.
        const keys = (objects.Contents ?? []).map((o) => o.Key!);
        expect(keys.filter((k) => !k.endsWith('.meta.json.esdk')).map((k) => k.split('/').pop())).toEqual(
          before.map((r) => `${r.id}.esdk`).sort(),
        );
        expect(keys.filter((k) => k.endsWith('.meta.json.esdk'))).toHaveLength(2);
      },
    });
  });

  it('a revoked key makes stored recordings unplayable (fail closed), and playable again once restored', async () => {
    const [rec] = await postMany(h, tenant.key, 1, 10_000);
    await waitForAll(h, tenant.key, [rec!.id], ['stored']);
    // The data-key cache would (rightly) keep serving for its TTL: drop it to see KMS's answer.
    h.ctx.dataKeys.clear();
    world.aws.disable(tenant.keyArn);
    const link = await api(h, 'POST', `/v1/recordings/${rec!.id}/playback-link`, {
      token: tenant.key,
      json: {},
    });
    const res = await fetch(link.body.url);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.headers.get('content-type')).toMatch(/problem\+json/);
    world.aws.enable(tenant.keyArn);
    expect((await playBack(h, tenant.key, rec!.id)).equals(rec!.audio)).toBe(true);
  });
});
