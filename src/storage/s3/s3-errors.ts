import { StorageError } from '../../errors.js';
import { InvalidObjectKeyError } from '../object-key.js';

/** What the SDK puts on service errors (`S3ServiceException`) and, partly, on network errors. */
interface SdkErrorShape {
  name: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

function sdkError(err: unknown): SdkErrorShape | undefined {
  return err instanceof Error ? (err as Error & SdkErrorShape) : undefined;
}

/** HTTP status of an SDK error, when the service answered at all. */
export function httpStatusOf(err: unknown): number | undefined {
  return sdkError(err)?.$metadata?.httpStatusCode;
}

/** `NotFound` (HEAD has no body, so no code) or `NoSuchKey`: the object, not the bucket, is missing. */
export function isObjectMissing(err: unknown): boolean {
  const e = sdkError(err);
  if (!e || e.name === 'NoSuchBucket') return false;
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || httpStatusOf(err) === 404;
}

export function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

/**
 * Classifies an SDK error the way the transfer job needs it. The message names the
 * operation and the error code only: S3 messages come from the response body, which is
 * never echoed (it may be shown to tenants); the original error is kept as `cause` for logs.
 * Our own errors, aborts and range errors pass through unchanged.
 */
export function mapS3Error(err: unknown, operation: string): unknown {
  if (
    !(err instanceof Error) ||
    err instanceof StorageError ||
    err instanceof InvalidObjectKeyError ||
    err instanceof RangeError ||
    isAbort(err)
  ) {
    return err;
  }
  const e = err as Error & SdkErrorShape;
  const status = httpStatusOf(err);
  if (e.code === 'ENDPOINT_NOT_ALLOWED') {
    // The guarded lookup refused the address the endpoint resolves to now (see guarded-lookup.ts).
    return new StorageError(
      'access-denied',
      'EndpointNotAllowed',
      `${operation}: the endpoint resolves to an address that is not allowed`,
      { cause: err },
    );
  }
  if (e.name === 'NoSuchBucket') {
    return new StorageError('container-missing', 'NoSuchBucket', `${operation}: the bucket does not exist`, {
      cause: err,
    });
  }
  if (e.name === 'AccessDenied' || status === 403) {
    return new StorageError('access-denied', 'AccessDenied', `${operation}: access denied`, { cause: err });
  }
  const code = codeOf(e);
  return new StorageError(
    'transient',
    code,
    `${operation} failed: ${code}${status ? ` (HTTP ${status})` : ''}`,
    {
      cause: err,
    },
  );
}

/** A short, safe code: the SDK error name, or a Node network code (`ECONNREFUSED`). */
function codeOf(e: SdkErrorShape): string {
  // Network failures also carry `$metadata` but are plain `Error`s: their `code` says more.
  const candidate = e.$metadata && e.name !== 'Error' ? e.name : (e.code ?? e.name);
  return /^[A-Za-z0-9_.-]{1,64}$/.test(candidate) ? candidate : 'InternalError';
}
