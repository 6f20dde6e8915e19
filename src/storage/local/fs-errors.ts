import { StorageError } from '../../errors.js';

/** File-system errors carry `code` and `syscall`; errors from a caller's body stream do not. */
export function isFsError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && 'syscall' in err;
}

export function hasCode(err: unknown, ...codes: string[]): boolean {
  return isFsError(err) && codes.includes(err.code ?? '');
}

/**
 * Classifies a file-system error the way the transfer job needs it: permission problems
 * are for the operator to fix (`access-denied`), everything else may pass (`transient`).
 * Errors that are not from the file system (an aborted or failing body) pass through.
 * Messages name the operation, never absolute paths: they may be shown to tenants.
 */
export function mapFsError(err: unknown, operation: string): unknown {
  if (err instanceof StorageError || !isFsError(err)) return err;
  if (err.code === 'EACCES' || err.code === 'EPERM') {
    return new StorageError('access-denied', 'AccessDenied', `${operation}: permission denied`, {
      cause: err,
    });
  }
  return new StorageError('transient', err.code ?? 'InternalError', `${operation} failed: ${err.code}`, {
    cause: err,
  });
}

export function containerMissing(cause?: unknown): StorageError {
  return new StorageError('container-missing', 'NoSuchBucket', 'the local storage directory does not exist', {
    cause,
  });
}
