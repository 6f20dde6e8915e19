/**
 * Every error the service raises on purpose has a stable `code` (part of the public
 * contract), an HTTP `status`, and the `cause` kept for logs only. The HTTP layer maps
 * these to problem+json; anything else becomes a masked 500.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown; extra?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.extra = options?.extra;
  }
  readonly extra: Record<string, unknown> | undefined;
}

export const badRequest = (detail: string, code = 'VALIDATION_FAILED') => new AppError(400, code, detail);
export const unauthenticated = () => new AppError(401, 'UNAUTHENTICATED', 'Missing or invalid credentials.');
export const forbidden = (detail = 'The credentials lack the scope this operation needs.') =>
  new AppError(403, 'FORBIDDEN', detail);
export const notFound = (what = 'Resource') => new AppError(404, 'NOT_FOUND', `${what} not found.`);
export const conflict = (detail: string, code = 'CONFLICT') => new AppError(409, code, detail);

/** Storage errors classified by who can fix them (see transfer job). */
export type StorageErrorKind = 'not-found' | 'access-denied' | 'container-missing' | 'transient';

export class StorageError extends Error {
  constructor(
    readonly kind: StorageErrorKind,
    /** Provider-style code shown to the tenant, e.g. `AccessDenied`, `NoSuchBucket`. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StorageError';
  }
}

export class ObjectNotFoundError extends StorageError {
  constructor(key: string) {
    super('not-found', 'NoSuchKey', `object ${key} does not exist`);
    this.name = 'ObjectNotFoundError';
  }
}

/** Key provider errors: `tenant` means only the tenant can fix it (disabled key, denied). */
export class KeyProviderError extends Error {
  constructor(
    readonly kind: 'tenant' | 'transient',
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KeyProviderError';
  }
}

/** Raised by the object reader: the bytes did not authenticate. Never carries plaintext. */
export class IntegrityError extends Error {
  readonly code = 'INTEGRITY_ERROR';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IntegrityError';
  }
}
