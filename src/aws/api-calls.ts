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
  /**
   * Permissions policy: reads of the bucket's configuration, on the bucket ARN. A statement
   * of its own, without `s3:prefix`: that key applies only to listings, and a condition on a
   * key the request does not carry would never match.
   */
  | 's3-bucket-config'
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
  /**
   * Sent only for storage registered with this opt-in feature (`objectLock`: S3 Object Lock,
   * WORM). Its actions are granted only by the policy generated for it, so the default
   * policy stays least-privilege.
   */
  onlyWith?: 'objectLock';
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
    operation: 'UploadPartCopy',
    iamAction: 's3:PutObject',
    statement: 's3-objects',
    why: 'rewrap and migrate copy all but the first part of a large recording inside the store (s3-splice.ts)',
  },
  {
    service: 's3',
    operation: 'UploadPartCopy',
    iamAction: 's3:GetObject',
    statement: 's3-objects',
    why: 'the copy reads its source, the old object under the same prefix (or the old bucket of a migration)',
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
  // S3 Object Lock (WORM). AWS authorizes a put carrying Object Lock headers as s3:PutObject
  // and, in addition, as the action of each header: the same operation appears again below
  // with that second action.
  {
    service: 's3',
    operation: 'PutObject',
    iamAction: 's3:PutObjectRetention',
    statement: 's3-objects',
    onlyWith: 'objectLock',
    why: 'a single-part put carries ObjectLockMode and ObjectLockRetainUntilDate (retention until expiry)',
  },
  {
    service: 's3',
    operation: 'CreateMultipartUpload',
    iamAction: 's3:PutObjectRetention',
    statement: 's3-objects',
    onlyWith: 'objectLock',
    why: 'a multipart upload carries the retention headers on its creation',
  },
  {
    service: 's3',
    operation: 'PutObject',
    iamAction: 's3:PutObjectLegalHold',
    statement: 's3-objects',
    onlyWith: 'objectLock',
    why: 'a recording under legal hold is put with ObjectLockLegalHoldStatus ON',
  },
  {
    service: 's3',
    operation: 'CreateMultipartUpload',
    iamAction: 's3:PutObjectLegalHold',
    statement: 's3-objects',
    onlyWith: 'objectLock',
    why: 'a multipart upload carries the legal hold header on its creation',
  },
  {
    service: 's3',
    operation: 'PutObjectLegalHold',
    iamAction: 's3:PutObjectLegalHold',
    statement: 's3-objects',
    onlyWith: 'objectLock',
    why: 'a legal hold set or released on a recording already stored',
  },
  {
    service: 's3',
    operation: 'GetObjectLockConfiguration',
    iamAction: 's3:GetBucketObjectLockConfiguration',
    statement: 's3-bucket-config',
    onlyWith: 'objectLock',
    why: 'the handshake checks that the bucket has Object Lock enabled',
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

/** Opt-in features whose calls to include; by default only the calls every registration makes. */
export interface CallOptions {
  /** Include the S3 Object Lock (WORM) calls. */
  objectLock?: boolean;
}

const included = (call: AwsApiCall, options: CallOptions) =>
  call.onlyWith === undefined || options[call.onlyWith] === true;

/**
 * The IAM actions each policy statement must grant, sorted and without duplicates. A
 * statement with no action is left out: IAM has no empty statement, so none is written.
 */
export function iamActionsByStatement(
  calls: readonly AwsApiCall[] = AWS_API_CALLS,
  options: CallOptions = {},
): Partial<Record<PolicyStatement, string[]>> {
  const out: Partial<Record<PolicyStatement, string[]>> = {};
  for (const call of calls.filter((c) => included(c, options))) {
    const actions = out[call.statement] ?? [];
    if (!actions.includes(call.iamAction)) out[call.statement] = [...actions, call.iamAction].sort();
  }
  return out;
}

/** The operations Custody calls on one service, e.g. `operationsOf('s3')`, without duplicates. */
export function operationsOf(service: AwsApiCall['service'], options: CallOptions = {}): string[] {
  const calls = AWS_API_CALLS.filter((c) => c.service === service && included(c, options));
  return [...new Set(calls.map((c) => c.operation))];
}
