import { KeyProviderError, StorageError } from '../../errors.js';

/**
 * KMS error names only the tenant can fix (in their key policy, key state or grants).
 * Everything else (throttling, 5xx, network, malformed replies) is `transient`.
 */
export const TENANT_KMS_ERRORS: ReadonlySet<string> = new Set([
  'DisabledException',
  'KMSInvalidStateException',
  'AccessDeniedException',
  'NotFoundException',
  'KeyUnavailableException',
  // Retrying cannot help: the data key was wrapped under another key or context.
  'InvalidCiphertextException',
  'IncorrectKeyException',
]);

const WHAT: Record<string, string> = {
  DisabledException: 'the key is disabled',
  KMSInvalidStateException: 'the key is not in a usable state (e.g. pending deletion or import)',
  AccessDeniedException: 'access to the key was denied by its key policy, grants or IAM',
  NotFoundException: 'the key does not exist',
  KeyUnavailableException: 'the key is unavailable',
  InvalidCiphertextException: 'KMS refused the wrapped data key (another key, or another encryption context)',
  IncorrectKeyException: 'the data key was wrapped under a different key',
};

export type KmsStep = 'GenerateDataKey' | 'Decrypt' | 'Encrypt' | 'DescribeKey';

/** Error name as the AWS SDK reports it (`err.name`, or the modeled `__type`). */
function errorName(err: unknown): string | undefined {
  if (err instanceof Error && err.name && err.name !== 'Error') return err.name;
  return undefined;
}

/**
 * Maps a failed KMS call to a `KeyProviderError`. The message names the step and the key
 * ARN only; the KMS response message (which may echo policy details) stays in `cause`.
 */
export function translateKmsError(err: unknown, step: KmsStep, keyArn: string): KeyProviderError {
  if (err instanceof KeyProviderError) return err;
  // The credentials (AssumeRole into the tenant's role) failed before KMS was reached.
  if (err instanceof StorageError) {
    return new KeyProviderError(err.kind === 'transient' ? 'transient' : 'tenant', err.code, err.message, {
      cause: err,
    });
  }
  const name = errorName(err);
  if (name && TENANT_KMS_ERRORS.has(name)) {
    return new KeyProviderError(
      'tenant',
      name,
      `AWS KMS ${step} with key ${keyArn} failed: ${WHAT[name]} (${name})`,
      {
        cause: err,
      },
    );
  }
  const code = name ?? 'KMSRequestFailed';
  return new KeyProviderError(
    'transient',
    code,
    `AWS KMS ${step} with key ${keyArn} failed (${code}); retry later`,
    {
      cause: err,
    },
  );
}
