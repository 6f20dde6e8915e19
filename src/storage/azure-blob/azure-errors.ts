import { tokenFailureOf } from '../../azure/identity-errors.js';
import { StorageError } from '../../errors.js';
import { InvalidObjectKeyError } from '../object-key.js';

/**
 * What `RestError` (@azure/core-rest-pipeline) carries. HEAD responses have no body, so
 * there `code` is unset and only `details.errorCode` (from `x-ms-error-code`) names the error.
 */
interface RestErrorShape {
  name: string;
  code?: string;
  statusCode?: number;
  details?: { errorCode?: string };
}

function restError(err: unknown): RestErrorShape | undefined {
  return err instanceof Error ? (err as Error & RestErrorShape) : undefined;
}

/** The service's error code (`BlobNotFound`, `AuthorizationPermissionMismatch`...) or a network code. */
export function azureCodeOf(err: unknown): string | undefined {
  const e = restError(err);
  return e?.details?.errorCode ?? e?.code;
}

export function isBlobMissing(err: unknown): boolean {
  return azureCodeOf(err) === 'BlobNotFound';
}

export function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

const ACCESS_DENIED = new Set([
  'AuthorizationPermissionMismatch', // RBAC: the principal has no data role at this scope
  'AuthorizationFailure', // network rules, disabled shared-key access, ...
  'AuthenticationFailed', // bad token (audience, issuer, expiry) or signature
  'AuthorizationResourceTypeMismatch',
  'InvalidAuthenticationInfo',
  'KeyBasedAuthenticationNotPermitted',
]);

/**
 * Classifies an SDK error the way the transfer job needs it. Messages name the operation
 * and a code only: Azure messages come from the response body (and identity errors can
 * quote the token endpoint's answer), which are never echoed; the error stays as `cause`
 * for logs. Our own errors, aborts and range errors pass through unchanged.
 */
export function mapAzureError(err: unknown, operation: string): unknown {
  if (
    !(err instanceof Error) ||
    err instanceof StorageError ||
    err instanceof InvalidObjectKeyError ||
    err instanceof RangeError ||
    isAbort(err)
  ) {
    return err;
  }
  const e = err as Error & RestErrorShape;
  const failure = tokenFailureOf(err);
  if (failure) {
    // The token request failed: only the tenant's app registration or secret can fix that,
    // unless Entra itself was unavailable (throttled or a server error).
    const { code, transient } = failure;
    return new StorageError(
      transient ? 'transient' : 'access-denied',
      code,
      `${operation}: could not get a token (${code})`,
      { cause: err },
    );
  }
  const code = safeCode(azureCodeOf(err)) ?? safeCode(e.name) ?? 'InternalError';
  const status = e.statusCode;
  if (code === 'ENDPOINT_NOT_ALLOWED' || hasCauseCode(err, 'ENDPOINT_NOT_ALLOWED')) {
    // The guarded agent refused the address the account host resolves to now (guarded-lookup.ts).
    return new StorageError(
      'access-denied',
      'EndpointNotAllowed',
      `${operation}: the endpoint resolves to an address that is not allowed`,
      { cause: err },
    );
  }
  if (code === 'ContainerNotFound') {
    return new StorageError('container-missing', code, `${operation}: the container does not exist`, {
      cause: err,
    });
  }
  if (ACCESS_DENIED.has(code) || status === 401 || status === 403) {
    return new StorageError('access-denied', code, `${operation}: access denied (${code})`, { cause: err });
  }
  // Md5Mismatch (a block was damaged on the way), 5xx, 429, network errors: worth a retry.
  return new StorageError(
    'transient',
    code,
    `${operation} failed: ${code}${status ? ` (HTTP ${status})` : ''}`,
    { cause: err },
  );
}

function hasCauseCode(err: Error, code: string): boolean {
  const cause = (err as { cause?: { code?: unknown } }).cause;
  return cause?.code === code;
}

function safeCode(candidate: string | undefined): string | undefined {
  return candidate && /^[A-Za-z0-9_.-]{1,64}$/.test(candidate) ? candidate : undefined;
}
