import { z } from 'zod';
import type { Queryable } from '../../db/pool.js';
import { getStorageVersion } from '../../db/storage-versions.js';
import type { TenantRow } from '../../db/tenants.js';
import {
  awsSetup,
  bucketName,
  keyPrefix,
  kmsKeyArn,
  objectLockMode,
  roleArn,
} from '../../domain/storage/aws-setup.js';
import { requireTenant } from '../../domain/tenants.js';
import { defineRoute } from '../route.js';
import * as s from '../schemas.js';

const admin = { kind: 'tenant', scopes: ['tenant:admin'] } as const;

// Strict: a misspelt parameter (`kmsKeyARN`) would otherwise be ignored without a word.
const awsSetupQuery = z.strictObject({
  bucket: bucketName.optional(),
  prefix: keyPrefix.optional(),
  kmsKeyArn: kmsKeyArn.optional(),
  roleArn: roleArn.optional(),
  /** WORM: the permissions policy then also grants the S3 Object Lock calls. */
  objectLock: objectLockMode.optional(),
});

type Values = z.infer<typeof awsSetupQuery>;

/** Values of the tenant's active `s3` registration; each is re-checked, as it lands in a policy. */
async function activeS3Values(db: Queryable, tenant: TenantRow): Promise<Values> {
  if (tenant.active_storage_version === null) return {};
  const active = await getStorageVersion(db, tenant.id, tenant.active_storage_version);
  if (active?.provider !== 's3') return {};
  const c = active.config;
  // As the S3 target reads it: `/a/b/` is `a/b/`, and no prefix is the bucket's root.
  const prefix = typeof c.prefix === 'string' ? c.prefix.replace(/^\/+|\/+$/g, '') : (c.prefix ?? '');
  const ok = <T>(schema: z.ZodType<T>, v: unknown) => {
    const r = schema.safeParse(v);
    return r.success ? r.data : undefined;
  };
  return {
    bucket: ok(bucketName, c.bucket),
    prefix: ok(keyPrefix, prefix),
    kmsKeyArn: ok(kmsKeyArn, c.kmsKeyArn),
    roleArn: ok(roleArn, c.roleArn),
    objectLock: ok(objectLockMode, (c.objectLock as { mode?: unknown } | undefined)?.mode),
  };
}

export const awsSetupRoutes = [
  defineRoute({
    method: 'get',
    path: '/v1/tenants/:tenantId/storage/aws-setup',
    summary: 'IAM and KMS policy templates for the tenant’s AWS account, filled in as far as known',
    tags: ['storage'],
    access: admin,
    params: s.tenantParams,
    query: awsSetupQuery,
    responses: {
      200: {
        description:
          'Templates. Values come from the query, else from the active s3 storage; what is still unknown stays a placeholder and is listed in `missing`.',
        schema: z.object({
          externalId: z.string(),
          connectorPrincipal: z.string().nullable(),
          trustPolicy: z.unknown(),
          permissionsPolicy: z.unknown(),
          keyPolicyStatement: z.unknown(),
          missing: z.array(z.string()),
          steps: z.array(z.string()),
        }),
      },
    },
    handler: async ({ ctx, params, query }) => {
      const t = await requireTenant(ctx.db, params.tenantId);
      const stored = await activeS3Values(ctx.db, t);
      return {
        status: 200,
        body: awsSetup({
          tenantId: t.id,
          externalId: t.aws_external_id,
          connectorPrincipal: ctx.config.awsConnectorPrincipal,
          bucket: query.bucket ?? stored.bucket,
          prefix: query.prefix ?? stored.prefix,
          kmsKeyArn: query.kmsKeyArn ?? stored.kmsKeyArn,
          roleArn: query.roleArn ?? stored.roleArn,
          objectLock: query.objectLock ?? stored.objectLock,
        }),
      };
    },
  }),
];
