import { describe, expect, it } from 'vitest';
import { StorageError } from '../../../src/errors.js';
import { mapFsError } from '../../../src/storage/local/fs-errors.js';

function fsError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: /srv/secret/path`), {
    code,
    syscall: 'open',
    path: '/srv/secret/path',
  });
}

describe('mapFsError', () => {
  it.each(['EACCES', 'EPERM'])('maps %s to access-denied / AccessDenied', (code) => {
    const err = mapFsError(fsError(code), 'put');
    expect(err).toBeInstanceOf(StorageError);
    expect(err).toMatchObject({ kind: 'access-denied', code: 'AccessDenied' });
  });

  it.each(['EIO', 'ENOSPC', 'EMFILE'])('maps %s to a transient error keeping the cause', (code) => {
    const cause = fsError(code);
    const err = mapFsError(cause, 'get') as StorageError;
    expect(err).toMatchObject({ kind: 'transient', code });
    expect(err.cause).toBe(cause);
  });

  it('never puts absolute paths in the message (it may reach the tenant)', () => {
    expect((mapFsError(fsError('EIO'), 'put') as Error).message).not.toContain('/srv');
  });

  it('passes through errors that are not from the file system', () => {
    const abort = new DOMException('aborted', 'AbortError');
    const body = new Error('upstream connection reset');
    expect(mapFsError(abort, 'put')).toBe(abort);
    expect(mapFsError(body, 'put')).toBe(body);
  });
});
