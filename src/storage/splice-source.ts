import { IntegrityError, StorageError } from '../errors.js';

/**
 * What a server-side splice pins its source by: the ETag the store reported, once the
 * object is checked to be the size recorded for it (another size is not the recording's
 * object, and copying from it would make a wrong one).
 */
export function pinnedEtag(
  what: 'object' | 'blob',
  reported: { size: number | undefined; etag: string | undefined },
  recordedSize: number,
): string {
  if (reported.size !== recordedSize) {
    throw new IntegrityError(
      `the source ${what} is ${reported.size} bytes, not the recorded ${recordedSize}`,
    );
  }
  if (!reported.etag)
    throw new StorageError('transient', 'InvalidHeadResponse', 'head: the store gave no ETag');
  return reported.etag;
}
