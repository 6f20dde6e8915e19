import { randomUUID } from 'node:crypto';
import { DeleteObjectsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import { registerAws } from '../../src/aws/connector.js';
import { loadConfig } from '../../src/config/index.js';
import type { ProviderPlan } from '../../src/domain/storage/plans/plan.js';
import { KeyProviderRegistry } from '../../src/keys/registry.js';
import { StorageRegistry } from '../../src/storage/registry.js';
import { keyProviderContract } from '../contract/key-provider.suite.js';
import { storageTargetContract } from '../contract/storage-target.suite.js';
import { type AwsWorld, startAwsWorld } from '../support/aws-world.js';

/**
 * The core's contract suites, unchanged, against S3 and KMS as production wires them
 * (`registerAws`): the tenant's assumed-role credentials from the STS stand-in, the
 * tenant-supplied endpoint through the guarded HTTP agents, the KMS stand-in enforcing
 * the key policy's `custody:tenant` condition.
 */
let world: AwsWorld;
let storageTargets: StorageRegistry;
let keyProviders: KeyProviderRegistry;
let plan: ProviderPlan;
let n = 0;

beforeAll(async () => {
  world = await startAwsWorld();
  storageTargets = new StorageRegistry();
  keyProviders = new KeyProviderRegistry();
  plan = registerAws(loadConfig({ ...process.env, ...world.env }, 'worker'), {
    storageTargets,
    keyProviders,
  });
});
afterAll(() => world?.stop());

/** A tenant's role and key as its security officer would create them, and the version config. */
function tenant(tenantId: string) {
  const roleArn = `arn:aws:iam::111122223333:role/contract-${++n}`;
  const externalId = `ext-${randomUUID()}`;
  world.aws.addRole({ roleArn, externalId, tenantId });
  const keyArn = world.aws.createKey('eu-west-1');
  world.aws.grantRole(keyArn, roleArn);
  const { config } = plan.split(
    {
      provider: 's3',
      bucket: world.s3.bucket,
      region: 'us-east-1',
      prefix: `contract/${randomUUID()}`,
      roleArn,
      kmsKeyArn: keyArn,
      endpoint: world.s3.endpoint,
      forcePathStyle: true,
      checksumMode: 'when-required',
    },
    {
      id: tenantId,
      name: tenantId,
      retention: 'P1D',
      aws_external_id: externalId,
      active_storage_version: null,
      status: 'active',
      metadata_sidecar: 'encrypted',
      created_at: new Date(),
      updated_at: new Date(),
    },
  );
  return { config, keyArn };
}

storageTargetContract('s3 through the connector (assumed role, guarded endpoint)', async () => {
  const { config } = tenant('contract-s3');
  const target = await storageTargets.create('s3', 'contract-s3', plan.storageConfig!(config, {}));
  const prefix = `${String(config.prefix)}/`;
  return {
    target,
    cleanup: async () => {
      const client = world.s3.client();
      const page = await client.send(new ListObjectsV2Command({ Bucket: world.s3.bucket, Prefix: prefix }));
      const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (keys.length)
        await client.send(new DeleteObjectsCommand({ Bucket: world.s3.bucket, Delete: { Objects: keys } }));
    },
  };
});

keyProviderContract('aws-kms through the connector (assumed role, key-policy condition)', async () => {
  const mine = tenant('acme');
  const other = tenant('acme-corp');
  const create = (id: string, config: Record<string, unknown>) =>
    keyProviders.create('aws-kms', id, plan.keyConfig!(config, {}));
  return {
    tenantId: 'acme',
    otherTenantId: 'acme-corp',
    provider: await create('acme', mine.config),
    otherTenantProvider: await create('acme-corp', other.config),
    reopen: () => create('acme', mine.config),
    expectedDataKey: { providerId: 'aws-kms', providerInfo: mine.keyArn },
    cleanup: async () => {},
  };
});
