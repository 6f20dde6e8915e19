import { type AwsStandIn, startAwsStandIn } from './aws-standin.js';
import { ALL_SCOPES, api, createKey } from './client.js';
import type { Harness } from './harness.js';
import { type S3rverHandle, startS3rver } from './s3rver.js';

/**
 * AWS without AWS: s3rver for the tenants' bucket, the STS+KMS stand-in server for their
 * role and key. The connector finds STS and KMS the way operators point it at other
 * stacks, through `AWS_ENDPOINT_URL_*` and the default credential chain, so the
 * variables are set on this process (in-process API and workers) and handed to spawned
 * workers through `env`.
 */
export interface AwsWorld {
  aws: AwsStandIn;
  s3: S3rverHandle;
  /** Harness env: the stand-in's variables, and s3rver's loopback address allowed. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startAwsWorld(): Promise<AwsWorld> {
  const [aws, s3] = await Promise.all([startAwsStandIn(), startS3rver()]);
  const env: Record<string, string> = { ...aws.env(), CUSTODY_ALLOW_PRIVATE_ENDPOINTS: '127.0.0.1' };
  const saved = Object.fromEntries(Object.keys(aws.env()).map((k) => [k, process.env[k]]));
  Object.assign(process.env, aws.env());
  return {
    aws,
    s3,
    env,
    async stop() {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await Promise.all([aws.stop(), s3.stop()]);
    },
  };
}

/** The S3 + KMS handshake's steps, in order, as the issue and the API contract name them. */
export const S3_HANDSHAKE_STEPS = [
  'assume-role',
  'kms-generate-data-key',
  'put-probe',
  'head-probe',
  'get-probe',
  'kms-decrypt',
  'delete-probe',
] as const;

export interface S3Tenant {
  tenantId: string;
  key: string;
  roleArn: string;
  keyArn: string;
  externalId: string;
  prefix: string;
}

/** The `PUT …/storage` body for `tenant` in `world` (tests change fields to break it). */
export function s3Body(world: AwsWorld, t: Pick<S3Tenant, 'roleArn' | 'keyArn' | 'prefix'>) {
  return {
    provider: 's3',
    bucket: world.s3.bucket,
    region: 'us-east-1',
    prefix: t.prefix,
    roleArn: t.roleArn,
    kmsKeyArn: t.keyArn,
    endpoint: world.s3.endpoint,
    forcePathStyle: true,
    checksumMode: 'when-required',
  };
}

/**
 * A tenant set up as a tenant's security officer would: read the ExternalId from
 * aws-setup, create the role trusting it and a key granting it, then register. With
 * `register: false` the role and key exist but nothing is registered yet.
 */
export async function setupS3Tenant(
  h: Harness,
  world: AwsWorld,
  tenantId: string,
  o: { scopes?: string[]; retention?: string; register?: boolean } = {},
): Promise<S3Tenant> {
  const t = await api(h, 'POST', '/v1/tenants', {
    json: { id: tenantId, name: tenantId, retention: o.retention ?? 'P30D' },
  });
  if (t.status !== 201) throw new Error(`create tenant: ${t.status} ${t.bytes}`);
  const setup = await api(h, 'GET', `/v1/tenants/${tenantId}/storage/aws-setup`);
  const externalId: string = setup.body.externalId;
  const roleArn = `arn:aws:iam::111122223333:role/custody-${tenantId}`;
  world.aws.addRole({ roleArn, externalId, tenantId });
  const keyArn = world.aws.createKey('us-east-1');
  world.aws.grantRole(keyArn, roleArn);
  const tenant = { tenantId, roleArn, keyArn, externalId, prefix: `tenants/${tenantId}`, key: '' };
  if (o.register !== false) {
    const s = await api(h, 'PUT', `/v1/tenants/${tenantId}/storage`, { json: s3Body(world, tenant) });
    if (s.status !== 200) throw new Error(`register storage: ${s.status} ${s.bytes}`);
  }
  tenant.key = await createKey(h, tenantId, o.scopes ?? ALL_SCOPES);
  return tenant;
}

/** A harness on an AWS world; `close` stops both. */
export async function startAwsHarness(o: { env?: Record<string, string>; workers?: boolean } = {}) {
  const world = await startAwsWorld();
  const { startHarness } = await import('./harness.js');
  const h = await startHarness({ env: { ...world.env, ...o.env }, workers: o.workers ?? true });
  return {
    world,
    h,
    async close() {
      await h.close();
      await world.stop();
    },
  };
}
