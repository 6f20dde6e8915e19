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
  // Entra ID (the `token` step)
  AADSTS7000215:
    "Give the client secret's value (not its id), from the app registration's Certificates & secrets.",
  AADSTS7000222: 'Create a new client secret for the app registration and register it again.',
  AADSTS700016: 'Check clientId and entraTenantId: the app registration must live in that tenant.',
  AADSTS700027: "Upload the certificate's public part to the app registration, or check the PEM.",
  AADSTS90002: 'Check entraTenantId: no such Entra tenant.',
  endpoints_resolution_error: 'Check entraTenantId: Entra ID does not know that tenant.',
  // Key Vault (the `get-key`, `wrap-key`, `unwrap-key` steps)
  KeyDisabled: 'Enable the key (and its current version) in Key Vault, or register another key.',
  KeyExpired: "Set a later expiration date on the key's current version, or rotate the key.",
  KeyNotYetValid: "Change the key version's activation date, or wait for it.",
  KeyNotFound: 'Check keyId: no such key (or version) in that vault.',
  KeyOperationNotPermitted: "Allow wrapKey and unwrapKey in the key's permitted operations.",
  ForbiddenByRbac:
    "Assign the app's service principal the Key Vault Crypto Service Encryption User role on the key " +
    '(policies/azure/setup.sh or custody-access.bicep).',
  ForbiddenByPolicy:
    "Give the app's service principal get, wrapKey and unwrapKey in the vault's access policy.",
  // Blob storage (the probes)
  ContainerNotFound:
    'Check container and accountUrl: the container must already exist (Custody never creates it).',
  AuthorizationPermissionMismatch:
    "Assign the app's service principal the Storage Blob Data Contributor role on the container " +
    '(policies/azure/setup.sh or custody-access.bicep).',
  AuthorizationFailure: "Check the storage account's network rules: they must let Custody's egress in.",
  AuthenticationFailed: 'Check accountUrl: the storage account did not accept the token for it.',
  EndpointNotAllowed: 'Use a public https endpoint, or ask the operator to allow this host.',
  // WORM (the `object-lock` and `immutability` steps)
  ObjectLockConfigurationNotFoundError:
    'Enable Object Lock on the bucket (it needs versioning; an existing bucket can have it turned on in its properties), or register without objectLock.',
  'object-lock/AccessDenied':
    'Allow s3:GetBucketObjectLockConfiguration on the bucket, and s3:PutObjectRetention and ' +
    "s3:PutObjectLegalHold on the prefix, in the role's permissions policy (docs/aws-setup.md).",
  ImmutableStorageWithVersioningNotEnabled:
    'Enable version-level immutability support on the container (it needs blob versioning), or register without immutability.',
  ProbeMismatch:
    'The store changed the bytes written; with an S3-compatible store, try checksumMode "when-required".',
};

/** Advice for `code` failing at `step`: a step-specific entry first, else the code's. */
export function adviceFor(step: string, code: string): string | undefined {
  return ADVICE[`${step}/${code}`] ?? ADVICE[code];
}
