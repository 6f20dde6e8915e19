import { openMessage } from '../../crypto/index.js';
import { REGULAR_FRAME_OVERHEAD } from '../../crypto/layout.js';
import type { MessageInfo } from '../../crypto/types.js';
import type { RecordingRow } from '../../db/recordings.js';
import { objectContext } from '../../domain/recordings/open-stored.js';
import type { ResolvedStorage } from '../../domain/storage/resolver.js';
import { IntegrityError } from '../../errors.js';
import type { ObjectInfo } from '../../storage/storage-target.js';
import type { NewObject, RelocationMode } from './produce.js';

/**
 * Before the row moves to the new object: its size is the one written, and its header,
 * read back from the store, is the one written (message id), names this tenant and
 * recording, and authenticates under the TARGET key (one unwrap, no cache: this proves
 * the new wrapping, not a remembered key).
 *
 * Then some frames are decrypted, their tags verified: the last one (the object ends
 * where it should), the first one of a re-encryption (the whole plaintext was already
 * hashed against the recorded SHA-256 on the way in), and for a server-side splice the
 * frames on both sides of every seam between streamed and copied bytes (a misplaced
 * range would break exactly there). Any mismatch is an IntegrityError: the recording
 * keeps its old object.
 */
export async function verifyNewObject(
  to: ResolvedStorage,
  key: string,
  r: RecordingRow,
  obj: NewObject,
  mode: RelocationMode,
  written: ObjectInfo,
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
  if (r.size === 0) return;
  const probes = new Set([r.size - 1]);
  if (mode === 'reencrypt') probes.add(0);
  for (const range of written.copiedRanges ?? []) {
    for (const at of [range.start - 1, range.start, range.end]) probes.add(plaintextAt(opened.info, at));
  }
  // One byte per probe: the reader fetches and authenticates its whole frame.
  for (const at of [...probes].sort((a, b) => a - b)) await opened.stream({ start: at, end: at }).toArray();
}

/** A plaintext offset inside the frame that holds ciphertext byte `at` (clamped to the message). */
function plaintextAt(info: MessageInfo, at: number): number {
  const frame = Math.floor(Math.max(0, at - info.headerLength) / (info.frameLength + REGULAR_FRAME_OVERHEAD));
  return Math.min(frame * info.frameLength, info.plaintextLength - 1);
}
