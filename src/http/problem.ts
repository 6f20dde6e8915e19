import type { Response } from 'express';
import { AppError, IntegrityError, KeyProviderError, StorageError } from '../errors.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  [extra: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** RFC 9457 problem document; `code` is the stable machine-readable id. */
export function problemOf(err: AppError): Problem {
  return {
    type: `urn:custody:problem:${err.code.toLowerCase().replaceAll('_', '-')}`,
    title: TITLES[err.status] ?? 'Error',
    status: err.status,
    detail: err.message,
    code: err.code,
    ...(err.extra ?? {}),
  };
}

export function sendProblem(res: Response, err: AppError): void {
  const body = problemOf(err);
  res.status(err.status).type('application/problem+json').send(JSON.stringify(body));
}

/** Maps what domain code throws to the problem the client sees; anything unknown is a masked 500. */
export function toAppError(err: unknown): AppError | undefined {
  if (err instanceof AppError) return err;
  if (err instanceof IntegrityError)
    return new AppError(502, 'INTEGRITY_ERROR', 'The stored object failed authentication.');
  if (err instanceof KeyProviderError) {
    return new AppError(503, 'KEY_UNAVAILABLE', `The tenant's key could not be used (${err.code}).`);
  }
  if (err instanceof StorageError) {
    return new AppError(
      503,
      'STORAGE_UNAVAILABLE',
      `The tenant's storage could not be reached (${err.code}).`,
    );
  }
  return undefined;
}
