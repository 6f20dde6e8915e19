import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AwsWorld,
  type S3Tenant,
  s3Body,
  setupS3Tenant,
  startAwsHarness,
  S3_HANDSHAKE_STEPS,
} from '../support/aws-world.js';
import { api } from '../support/client.js';
import type { Harness } from '../support/harness.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { expectHandshakeFailedAt } from '../support/handshake-checks.js';

const STEPS = S3_HANDSHAKE_STEPS;

interface Case {
  name: string;
  step: (typeof STEPS)[number];
  code: string;
  /** Words the message must hold: what to fix. */
  advice: RegExp;
  /** Breaks the tenant's set-up; may change the body. */
  arrange(t: S3Tenant, body: Record<string, unknown>): void;
}

/**
 * Each handshake step failing in turn: the reply names that step and the AWS error code
 * with a sentence on what to fix, every earlier step passed, no later step ran, nothing
 * was activated, and no probe is left in the bucket.
 */
describe('the S3 + KMS handshake, failing at each step', () => {
  let world: AwsWorld;
  let proxy: FaultProxy;
  let h: Harness;
  let close: () => Promise<void>;
  let n = 0;

  const cases: Case[] = [
    {
      name: 'the trust policy refuses the connector',
      step: 'assume-role',
      code: 'AccessDenied',
      advice: /trust policy.*sts:ExternalId/,
      arrange: (t) => world.aws.denyRole(t.roleArn),
    },
    {
      name: 'the trust policy requires another ExternalId',
      step: 'assume-role',
      code: 'AccessDenied',
      advice: /ExternalId/,
      arrange: (t) => world.aws.addRole({ roleArn: t.roleArn, externalId: 'not-ours', tenantId: t.tenantId }),
    },
    {
      name: 'the key is disabled',
      step: 'kms-generate-data-key',
      code: 'DisabledException',
      advice: /Enable the key/,
      arrange: (t) => world.aws.disable(t.keyArn),
    },
    {
      name: 'the key is pending deletion',
      step: 'kms-generate-data-key',
      code: 'KMSInvalidStateException',
      advice: /pending deletion/,
      arrange: (t) => world.aws.scheduleDeletion(t.keyArn),
    },
    {
      name: 'the key does not exist',
      step: 'kms-generate-data-key',
      code: 'NotFoundException',
      advice: /kmsKeyArn/,
      arrange: (_t, body) => {
        body.kmsKeyArn = 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000';
      },
    },
    {
      name: 'the key policy does not grant the role',
      step: 'kms-generate-data-key',
      code: 'AccessDeniedException',
      advice: /key-policy statement/,
      arrange: (_t, body) => {
        body.kmsKeyArn = world.aws.createKey('us-east-1');
      },
    },
    {
      name: 'GenerateDataKey itself is denied',
      step: 'kms-generate-data-key',
      code: 'AccessDeniedException',
      advice: /key-policy statement/,
      arrange: () => world.aws.failNext('GenerateDataKey', 'AccessDeniedException'),
    },
    {
      name: 'the bucket does not exist',
      step: 'put-probe',
      code: 'NoSuchBucket',
      advice: /bucket must already exist/,
      arrange: (_t, body) => {
        body.bucket = 'no-such-bucket';
      },
    },
    {
      name: 'PutObject is denied',
      step: 'put-probe',
      code: 'AccessDenied',
      advice: /permissions policy/,
      arrange: (_t, body) => {
        body.endpoint = proxy.endpoint;
        proxy.failNext('PUT', 'AccessDenied');
      },
    },
    {
      name: 'HeadObject is denied',
      step: 'head-probe',
      code: 'AccessDenied',
      advice: /permissions policy/,
      arrange: (_t, body) => {
        body.endpoint = proxy.endpoint;
        proxy.failNext('HEAD', 'AccessDenied');
      },
    },
    {
      name: 'GetObject is denied',
      step: 'get-probe',
      code: 'AccessDenied',
      advice: /permissions policy/,
      arrange: (_t, body) => {
        body.endpoint = proxy.endpoint;
        proxy.failNext('GET', 'AccessDenied');
      },
    },
    {
      name: 'Decrypt is denied',
      step: 'kms-decrypt',
      code: 'AccessDeniedException',
      advice: /key-policy statement/,
      arrange: () => world.aws.failNext('Decrypt', 'AccessDeniedException'),
    },
    {
      name: 'DeleteObject is denied',
      step: 'delete-probe',
      code: 'AccessDenied',
      advice: /permissions policy/,
      arrange: (_t, body) => {
        body.endpoint = proxy.endpoint;
        proxy.failNext('DELETE', 'AccessDenied');
      },
    },
  ];

  beforeAll(async () => {
    ({ world, h, close } = await startAwsHarness({ workers: false }));
    proxy = await new FaultProxy(world.s3.endpoint).start();
  });
  afterAll(async () => {
    await proxy?.stop();
    await close?.();
  });

  it('covers every step', () => {
    expect(new Set(cases.map((c) => c.step))).toEqual(new Set(STEPS));
  });

  for (const c of cases) {
    it(`${c.name}: fails at ${c.step} with ${c.code}, activates nothing`, async () => {
      const t = await setupS3Tenant(h, world, `hs-${++n}`, { register: false });
      const body: Record<string, unknown> = s3Body(world, t);
      c.arrange(t, body);
      const res = await api(h, 'PUT', `/v1/tenants/${t.tenantId}/storage`, { json: body });
      expectHandshakeFailedAt(res, STEPS, c);
      // Upstream response bodies are never echoed.
      expect(res.bytes.toString()).not.toMatch(/injected|secret policy detail|is not authorized/);

      const storage = await api(h, 'GET', `/v1/tenants/${t.tenantId}/storage`);
      expect(storage.body).toEqual({ active: null, history: [] });
      const left = await world.s3
        .client()
        .send(new ListObjectsV2Command({ Bucket: world.s3.bucket, Prefix: `${t.prefix}/` }));
      // A probe whose delete was refused is removed on the way out when the store allows it.
      expect(left.Contents ?? []).toEqual([]);
    });
  }

  it('passes once the tenant fixes its set-up, and then activates', async () => {
    const t = await setupS3Tenant(h, world, 'hs-fixed', { register: false });
    world.aws.disable(t.keyArn);
    const body = s3Body(world, t);
    expect((await api(h, 'PUT', `/v1/tenants/${t.tenantId}/storage`, { json: body })).status).toBe(422);
    world.aws.enable(t.keyArn);
    const ok = await api(h, 'PUT', `/v1/tenants/${t.tenantId}/storage`, { json: body });
    expect(ok.status, ok.bytes.toString()).toBe(200);
    expect(ok.body).toMatchObject({ version: 1, status: 'active' });
  });
});
