import { openMessage } from '../../crypto/index.js';
import type { RecordingRow } from '../../db/recordings.js';
import { objectContext } from '../../domain/recordings/open-stored.js';
import type { ResolvedStorage } from '../../domain/storage/resolver.js';
import { IntegrityError } from '../../errors.js';
import type { NewObject, RelocationMode } from './produce.js';

/**
 * Before the row moves to the new object: its size is the one written, and its header,
 * read back from the store, is the one written (message id), names this tenant and
 * recording, and authenticates under the TARGET key (one unwrap, no cache: this proves
 * the new wrapping, not a remembered key). A re-encryption also decrypts its first frame
 * (the whole plaintext was already hashed against the recorded SHA-256 on the way in).
 * Any mismatch is an IntegrityError: the recording keeps its old object.
 */
export async function verifyNewObject(
  to: ResolvedStorage,
  key: string,
  r: RecordingRow,
  obj: NewObject,
  mode: RelocationMode,
): Promise<void> {
  const head = await to.target.head(key);
  if (!head || head.size !== obj.size) {
    throw new IntegrityError(`the new object is ${head?.size ?? 'missing'}, not ${obj.size} bytes`);
  }
  const opened = await openMessage(
    { size: obj.size, read: (range) => to.target.get(key, { range }) },
    { keyring: to.keys.keyring(), expectedContext: objectContext(r.tenant_id, r.id) },
  );
  if (!opened.info.messageId.equals(obj.messageId))
    throw new IntegrityError('the new object is not the one written');
  if (opened.info.plaintextLength !== r.size) {
    throw new IntegrityError('the new object does not hold the recorded number of bytes');
  }
  if (mode === 'reencrypt' && r.size > 0) {
    const end = Math.min(r.size, opened.info.frameLength) - 1;
    await opened.stream({ start: 0, end }).toArray();
  }
}
