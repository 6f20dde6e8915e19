/**
 * Every AWS API operation Custody calls in a tenant's account, and the IAM action each
 * needs. The policy templates in `policies/aws/` are checked against this list (a missing
 * or extra action fails the tests), and the S3 part against what the S3 target really
 * sends, so least privilege cannot drift from the code.
 */

/** Where an action is granted: one statement of the trust, permissions or key policy. */
export type PolicyStatement =
  /** Trust policy: the connector principal may assume the tenant's role. */
  | 'trust'
  /** Permissions policy: object actions on `<bucket>/<prefix>*`. */
  | 's3-objects'
  /** Permissions policy: bucket actions, limited to the prefix by `s3:prefix`. */
  | 's3-bucket'
  /** Permissions and key policy: key use under `kms:EncryptionContext:custody:tenant`. */
  | 'kms-tenant-context'
  /** Permissions and key policy: key calls that carry no encryption context. */
  | 'kms-no-context';

export interface AwsApiCall {
  service: 'sts' | 's3' | 'kms';
  /** The SDK command name without its `Command` suffix. */
  operation: string;
  iamAction: string;
  statement: PolicyStatement;
  /** Sent only when something else failed (provoked on purpose by the tests). */
  onlyOnFailure?: true;
  why: string;
}

export const AWS_API_CALLS: readonly AwsApiCall[] = [
  {
    service: 'sts',
    operation: 'AssumeRole',
    iamAction: 'sts:AssumeRole',
    statement: 'trust',
    why: 'temporary credentials in the tenant role, with the tenant ExternalId (src/aws/assume-role.ts)',
  },
  {
    service: 's3',
    operation: 'PutObject',
    iamAction: 's3:PutObject',
    statement: 's3-objects',
    why: 'lib-storage Upload of a body that fits in one part (handshake probe, small recordings)',
  },
  {
    service: 's3',
    operation: 'CreateMultipartUpload',
    iamAction: 's3:PutObject',
    statement: 's3-objects',
    why: 'lib-storage Upload of a body larger than PART_SIZE starts a multipart upload',
  },
  {
    service: 's3',
    operation: 'UploadPart',
    iamAction: 's3:PutObject',
    statement: 's3-objects',
    why: 'each part of a multipart upload',
  },
  {
    service: 's3',
    operation: 'CompleteMultipartUpload',
    iamAction: 's3:PutObject',
    statement: 's3-objects',
    why: 'commits a multipart upload: the object appears only now',
  },
  {
    service: 's3',
    operation: 'AbortMultipartUpload',
    iamAction: 's3:AbortMultipartUpload',
    statement: 's3-objects',
    onlyOnFailure: true,
    why: 'a failed multipart upload discards its parts (leavePartsOnError: false)',
  },
  {
    service: 's3',
    operation: 'HeadObject',
    iamAction: 's3:GetObject',
    statement: 's3-objects',
    why: 'the transfer verifies the stored size; the handshake checks the probe',
  },
  {
    service: 's3',
    operation: 'GetObject',
    iamAction: 's3:GetObject',
    statement: 's3-objects',
    why: 'playback (ranged), header read-back after a transfer, handshake probe',
  },
  {
    service: 's3',
    operation: 'DeleteObject',
    iamAction: 's3:DeleteObject',
    statement: 's3-objects',
    why: 'retention and deletion of recordings, removal of the handshake probe',
  },
  {
    service: 's3',
    operation: 'ListObjectsV2',
    iamAction: 's3:ListBucket',
    statement: 's3-bucket',
    why: 'StorageTarget.list under the tenant prefix (reconciling the bucket with the database)',
  },
  {
    service: 'kms',
    operation: 'GenerateDataKey',
    iamAction: 'kms:GenerateDataKey',
    statement: 'kms-tenant-context',
    why: 'the ESDK KMS keyring makes one data key per recording (and handshake probe)',
  },
  {
    service: 'kms',
    operation: 'Encrypt',
    iamAction: 'kms:Encrypt',
    statement: 'kms-tenant-context',
    why: 'the ESDK KMS keyring wraps an existing data key under an additional key (rewrap, rotation)',
  },
  {
    service: 'kms',
    operation: 'Decrypt',
    iamAction: 'kms:Decrypt',
    statement: 'kms-tenant-context',
    why: 'unwraps a recording data key for playback, verification and the handshake',
  },
  {
    service: 'kms',
    operation: 'DescribeKey',
    iamAction: 'kms:DescribeKey',
    statement: 'kms-no-context',
    why: 'the registration handshake checks key state and usage; the call carries no context',
  },
];

/** The IAM actions each policy statement must grant, sorted and without duplicates. */
export function iamActionsByStatement(
  calls: readonly AwsApiCall[] = AWS_API_CALLS,
): Record<PolicyStatement, string[]> {
  const out: Record<PolicyStatement, Set<string>> = {
    trust: new Set(),
    's3-objects': new Set(),
    's3-bucket': new Set(),
    'kms-tenant-context': new Set(),
    'kms-no-context': new Set(),
  };
  for (const call of calls) out[call.statement].add(call.iamAction);
  const sorted = (set: Set<string>) => [...set].sort();
  return {
    trust: sorted(out.trust),
    's3-objects': sorted(out['s3-objects']),
    's3-bucket': sorted(out['s3-bucket']),
    'kms-tenant-context': sorted(out['kms-tenant-context']),
    'kms-no-context': sorted(out['kms-no-context']),
  };
}

/** The operations Custody calls on one service, e.g. `operationsOf('s3')`. */
export function operationsOf(service: AwsApiCall['service']): string[] {
  return AWS_API_CALLS.filter((c) => c.service === service).map((c) => c.operation);
}
