import { z } from 'zod';
import { type AssumedRoleCredentials, ROLE_ARN } from '../../../aws/assume-role.js';
import { KEY_ARN, regionOfKeyArn } from '../../../keys/aws-kms/index.js';
import type { ProviderPlan } from './plan.js';
import { tenantPrefix } from './prefix.js';

/** S3 bucket naming rules (general purpose buckets): 3–63 of [a-z0-9.-], no `..`, not an IP. */
const BUCKET = /^(?!xn--)(?!\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
export const s3Request = z
  .object({
    provider: z.literal('s3'),
    bucket: z.string().regex(BUCKET, 'an S3 bucket name (3-63 characters of a-z, 0-9, ".", "-")'),
    region: z.string().regex(/^[a-z0-9][a-z0-9-]{1,31}$/, 'an AWS region such as eu-west-1'),
    prefix: tenantPrefix.optional(),
    roleArn: z.string().regex(ROLE_ARN, 'an IAM role ARN: arn:aws:iam::<account>:role/<name>'),
    kmsKeyArn: z
      .string()
      .regex(KEY_ARN, 'a full KMS key ARN (arn:aws:kms:<region>:<account>:key/<key-id>), not an alias'),
    endpoint: z.string().max(2048).optional(),
    forcePathStyle: z.boolean().optional(),
    /** `when-required` for S3-compatible stores without flexible checksums (MinIO, Ceph, s3rver). */
    checksumMode: z.enum(['default', 'when-required']).optional(),
    /** Opt-in WORM: recordings are stored under S3 Object Lock retention until they expire. */
    objectLock: z
      .object({ mode: z.enum(['GOVERNANCE', 'COMPLIANCE']) })
      .strict()
      .optional(),
  })
  .strict()
  // S3 refuses an Object Lock put without a checksum: without this every locked recording
  // would fail at the store, not here.
  .refine((r) => !(r.objectLock && r.checksumMode === 'when-required'), {
    message: 'objectLock needs checksumMode "default": S3 refuses locked puts without a checksum',
    path: ['checksumMode'],
  });

type S3Request = z.infer<typeof s3Request>;

/** What reaches AssumeRole: the role the tenant registered and the ExternalId we issued it. */
const roleOf = (config: Record<string, unknown>) => ({
  roleArn: String(config.roleArn),
  externalId: String(config.externalId),
});

/**
 * The tenant's S3 bucket, written with STS AssumeRole credentials, and its KMS key. The
 * tenant's ExternalId is recorded on the version: it is what the version was verified
 * with, and what every AssumeRole for it presents.
 */
export function s3Plan(credentials: AssumedRoleCredentials): ProviderPlan {
  return {
    provider: 's3',
    storageKind: 's3',
    keyKind: 'aws-kms',
    request: s3Request,
    split: (raw, tenant) => {
      const r = raw as S3Request;
      const config: Record<string, unknown> = {
        bucket: r.bucket,
        region: r.region,
        prefix: (r.prefix ?? '').replace(/\/+$/, ''),
        roleArn: r.roleArn,
        kmsKeyArn: r.kmsKeyArn,
        externalId: tenant.aws_external_id,
      };
      if (r.endpoint !== undefined) config.endpoint = r.endpoint;
      if (r.forcePathStyle !== undefined) config.forcePathStyle = r.forcePathStyle;
      if (r.checksumMode !== undefined) config.checksumMode = r.checksumMode;
      if (r.objectLock !== undefined) config.objectLock = { mode: r.objectLock.mode };
      return { config };
    },
    storageConfig: ({ kmsKeyArn: _key, ...rest }) => rest,
    // The key's region comes from its ARN: it may differ from the bucket's.
    keyConfig: (c) => ({
      kmsKeyArn: c.kmsKeyArn,
      region: regionOfKeyArn(String(c.kmsKeyArn)),
      ...roleOf(c),
    }),
    urls: (r): Record<string, string> => (typeof r.endpoint === 'string' ? { endpoint: r.endpoint } : {}),
    handshake: {
      preflight: [
        {
          name: 'assume-role',
          run: async (storage) => {
            await credentials.assumeNow({ tenantId: storage.tenantId, ...roleOf(storage.config) });
          },
        },
      ],
      wrap: 'kms-generate-data-key',
      unwrap: 'kms-decrypt',
      headProbe: true,
      worm: 'object-lock',
    },
  };
}
