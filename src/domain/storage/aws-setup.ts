import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { AWS_API_CALLS } from '../../aws/api-calls.js';
import { ROLE_ARN } from '../../aws/assume-role.js';
import { KEY_ARN } from '../../keys/aws-kms/index.js';
import { normalisePrefix } from '../../storage/object-key.js';
import type { S3ObjectLockMode } from '../../storage/s3/s3-storage-target.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const policiesDir = path.resolve(
  here,
  here.includes(`${path.sep}dist${path.sep}`) ? '../../../../policies/aws' : '../../../policies/aws',
);

const load = (name: string): unknown => JSON.parse(readFileSync(path.join(policiesDir, name), 'utf8'));

/*
 * What the tenant may pass. The values end up inside IAM documents, so they are held to
 * characters IAM reads literally: no `*`, `?` (wildcards) or `$` (policy variables).
 */

/** S3 bucket naming rules (general purpose buckets). */
export const bucketName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
    '3-63 of a-z 0-9 . -, starting and ending with a letter or digit',
  )
  .refine((b) => !b.includes('..'), 'no two adjacent dots')
  .refine((b) => !/^\d+\.\d+\.\d+\.\d+$/.test(b), 'not an IP address')
  .refine((b) => !/^(xn--|sthree-|amzn-s3-demo-)/.test(b), 'a reserved prefix')
  .refine((b) => !/(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(b), 'a reserved suffix');

const SEGMENT = "[A-Za-z0-9!_'()=-][A-Za-z0-9!_.'()=-]*";
/** `a/b` or `a/b/` (the same prefix); empty for the bucket's root. Segments never start with `.`. */
export const keyPrefix = z
  .string()
  .max(512)
  .regex(
    new RegExp(`^(?:${SEGMENT}(?:/${SEGMENT})*/?)?$`),
    "segments of A-Za-z0-9!_.'()=- without a leading /",
  );

/** A full key ARN, as registration takes it: recordings name the key by ARN, and policies need it exact. */
export const kmsKeyArn = z
  .string()
  .regex(KEY_ARN, 'a key ARN: arn:aws:kms:<region>:<12-digit account>:key/<key id>');

export const roleArn = z.string().regex(ROLE_ARN, 'arn:aws:iam::<12-digit account>:role/<name>');

/** The S3 Object Lock mode of a WORM registration, as `objectLock.mode` of the s3 storage takes it. */
export const objectLockMode = z.enum(['GOVERNANCE', 'COMPLIANCE'] satisfies S3ObjectLockMode[]);

/** The `${Name}` placeholders of the templates in `policies/aws/`. */
export const PLACEHOLDERS = [
  'TenantId',
  'ExternalId',
  'ConnectorPrincipal',
  'Partition',
  'BucketName',
  'Prefix',
  'KmsKeyArn',
  'RoleArn',
] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

export interface AwsSetupInput {
  tenantId: string;
  externalId: string;
  connectorPrincipal: string | undefined;
  bucket?: string | undefined;
  prefix?: string | undefined;
  kmsKeyArn?: string | undefined;
  roleArn?: string | undefined;
  /** Set for WORM storage: the permissions policy then also grants the Object Lock calls. */
  objectLock?: S3ObjectLockMode | undefined;
}

// Built by concatenation so that no source line reads like a template literal by mistake.
const slot = (name: string) => '$' + `{${name}}`;
const SLOT = /\$\{([A-Za-z]+)\}/g;

/** Replaces `${Name}` in every string of `doc`; a value is never parsed as JSON, so it cannot inject. */
function fill(doc: unknown, values: Partial<Record<Placeholder, string>>): unknown {
  if (typeof doc === 'string')
    return doc.replace(SLOT, (whole, name: string) => values[name as Placeholder] ?? whole);
  if (Array.isArray(doc)) return doc.map((d) => fill(d, values));
  if (doc && typeof doc === 'object')
    return Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, fill(v, values)]));
  return doc;
}

function unfilled(doc: unknown, into: Set<string>): Set<string> {
  if (typeof doc === 'string') for (const m of doc.matchAll(SLOT)) into.add(m[1]!);
  else if (Array.isArray(doc)) for (const d of doc) unfilled(d, into);
  else if (doc && typeof doc === 'object') for (const v of Object.values(doc)) unfilled(v, into);
  return into;
}

const partitionOf = (arn: string | undefined) => arn?.split(':')[1];

/**
 * Fills the templates the tenant applies in its AWS account. Unknown values stay as
 * `${Name}` and are listed in `missing`, so the tenant knows what to pass.
 */
export function awsSetup(input: AwsSetupInput) {
  const values: Partial<Record<Placeholder, string>> = {
    TenantId: input.tenantId,
    ExternalId: input.externalId,
    ConnectorPrincipal: input.connectorPrincipal,
    // Taken from an ARN the tenant gave, so `aws-cn` and `aws-us-gov` accounts get theirs.
    Partition: partitionOf(input.kmsKeyArn) ?? partitionOf(input.roleArn),
    BucketName: input.bucket,
    // Exactly as the S3 target joins keys (`a/b` → `a/b/`), so the Resource matches every write.
    Prefix: input.prefix === undefined ? undefined : normalisePrefix(input.prefix),
    KmsKeyArn: input.kmsKeyArn,
    RoleArn: input.roleArn,
  };
  const trustPolicy = fill(load('trust-policy.json'), values);
  // Two templates rather than one edited in code: each is checked whole against the declared calls.
  const permissionsPolicy = fill(
    load(input.objectLock ? 'permissions-policy-object-lock.json' : 'permissions-policy.json'),
    values,
  );
  const keyPolicyStatement = fill(load('key-policy-statement.json'), values);
  const missing = [...unfilled([trustPolicy, permissionsPolicy, keyPolicyStatement], new Set())].sort();
  return {
    externalId: input.externalId,
    connectorPrincipal: input.connectorPrincipal ?? null,
    trustPolicy,
    permissionsPolicy,
    keyPolicyStatement,
    missing,
    steps: stepsFor(input, missing),
  };
}

/** The IAM actions only WORM storage needs, as declared with the calls that need them. */
const OBJECT_LOCK_ACTIONS = [
  ...new Set(AWS_API_CALLS.filter((c) => c.onlyWith === 'objectLock').map((c) => c.iamAction)),
].sort();

/** Short, ordered instructions; docs/aws-setup.md has the long form. */
function stepsFor(input: AwsSetupInput, missing: string[]): string[] {
  const known = (v: string | undefined, fallback: string) => (v === undefined ? fallback : v);
  const lock = input.objectLock === undefined ? '' : `,"objectLock":{"mode":"${input.objectLock}"}`;
  const steps: string[] = [];
  if (missing.includes('ConnectorPrincipal'))
    steps.push('Ask the operator to set CUSTODY_AWS_CONNECTOR_PRINCIPAL: the trust policy needs it.');
  const askable = missing.filter((m) => m !== 'ConnectorPrincipal' && m !== 'Partition');
  if (askable.length > 0)
    steps.push(
      `Call this endpoint again with ?bucket=…&prefix=…&kmsKeyArn=…&roleArn=… to fill ${askable.map(slot).join(', ')}.`,
    );
  if (input.objectLock === undefined)
    steps.push(
      'For WORM (S3 Object Lock), call this endpoint again with ?objectLock=GOVERNANCE or COMPLIANCE.',
    );
  const bucket = known(input.bucket, slot('BucketName'));
  steps.push(
    input.objectLock === undefined
      ? `Create the S3 bucket ${bucket} (or choose one), with a lifecycle rule that aborts incomplete multipart uploads after 7 days.`
      : `Create the S3 bucket ${bucket} (or choose one) with Object Lock enabled (which turns on versioning), with a lifecycle rule that aborts incomplete multipart uploads after 7 days.`,
    `Create or choose a symmetric encryption KMS key (${known(input.kmsKeyArn, slot('KmsKeyArn'))}); give Custody its full key ARN, not an alias.`,
    `Create the IAM role ${known(input.roleArn, slot('RoleArn'))} with trustPolicy as its trust policy (it requires ExternalId ${input.externalId}).`,
    input.objectLock === undefined
      ? 'Attach permissionsPolicy to the role as an inline policy.'
      : `Attach permissionsPolicy to the role as an inline policy; it includes the Object Lock actions (${OBJECT_LOCK_ACTIONS.join(', ')}).`,
    "Append the keyPolicyStatement statements to the key's key policy (after the role exists: KMS checks principals).",
    `PUT /v1/tenants/${input.tenantId}/storage with {"provider":"s3","bucket":"${bucket}","region":"<bucket region>","prefix":"${known(input.prefix, slot('Prefix'))}","roleArn":"${known(input.roleArn, slot('RoleArn'))}","kmsKeyArn":"${known(input.kmsKeyArn, slot('KmsKeyArn'))}"${lock}}; a failed handshake step names what to fix.`,
  );
  return steps;
}
