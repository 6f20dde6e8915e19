/**
 * One sentence per failure the tenant can fix, keyed by the error code the step reported
 * (AWS error names, or Custody's own). Appended to the step's message so the handshake
 * says both what failed and what to change. Azure codes join here.
 */
const ADVICE: Record<string, string> = {
  // STS AssumeRole
  'assume-role/AccessDenied':
    "Check the role's trust policy: it must let the connector principal call sts:AssumeRole with " +
    'the condition sts:ExternalId equal to your ExternalId (GET /v1/tenants/{t}/storage/aws-setup).',
  // S3 (put/head/get/delete probes)
  AccessDenied:
    "Check the role's permissions policy: it must allow the S3 actions on the bucket and prefix " +
    '(GET /v1/tenants/{t}/storage/aws-setup), and no bucket policy or SCP may deny them.',
  InvalidRoleArn: 'Give the ARN of an IAM role in your account: arn:aws:iam::<account>:role/<name>.',
  RegionDisabledException: 'Activate AWS STS in the connector region, or ask the operator to use another.',
  // KMS
  AccessDeniedException:
    'Add the key-policy statement from GET /v1/tenants/{t}/storage/aws-setup to the key, and the ' +
    'kms actions of the permissions policy to the role.',
  DisabledException: 'Enable the key in AWS KMS (or register another key).',
  KMSInvalidStateException:
    'The key is pending deletion or otherwise unusable: cancel the deletion or register another key.',
  NotFoundException: 'Check kmsKeyArn: no such key in that account and region.',
  KeyUnavailableException: 'The key store backing the key is unavailable; retry once it is connected.',
  InvalidKeyUsage: 'Use a symmetric encryption key (KeySpec SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT).',
  InvalidKmsKeyArn: 'Give the full key ARN (arn:aws:kms:<region>:<account>:key/<key-id>), not an alias.',
  // S3
  NoSuchBucket: 'Check bucket and region: the bucket must already exist (Custody never creates it).',
  ECONNREFUSED: 'Check endpoint: nothing accepts connections at that host and port.',
  ENOTFOUND: 'Check endpoint (or region): the host name does not resolve.',
  EndpointNotAllowed: 'Use a public https endpoint, or ask the operator to allow this host.',
  ProbeMismatch:
    'The store changed the bytes written; with an S3-compatible store, try checksumMode "when-required".',
};

/** Advice for `code` failing at `step`: a step-specific entry first, else the code's. */
export function adviceFor(step: string, code: string): string | undefined {
  return ADVICE[`${step}/${code}`] ?? ADVICE[code];
}
