import type { Context } from '../../context.js';
import { type CiphertextSource, type OpenedMessage, openMessage } from '../../crypto/index.js';
import type { RecordingRow } from '../../db/recordings.js';
import { IntegrityError } from '../../errors.js';

/** The encryption context every tenant object carries (the contract fixes these names). */
export const objectContext = (tenantId: string, recordingId: string) => ({
  'custody:tenant': tenantId,
  'custody:recording': recordingId,
});

/**
 * Opens a stored recording for random access: reads and authenticates the header from
 * the tenant's storage (the data key comes from the brief cache or the tenant's key),
 * and refuses an object whose context names another tenant or recording.
 */
export async function openStoredRecording(ctx: Context, r: RecordingRow): Promise<OpenedMessage> {
  if (r.storage_version === null || !r.object_key || r.object_size === null) {
    throw new Error(`recording ${r.id} has no stored object`);
  }
  const storage = await ctx.storage.resolve(r.tenant_id, r.storage_version);
  const key = r.object_key;
  const source: CiphertextSource = {
    size: r.object_size,
    read: (range) => storage.target.get(key, { range }),
  };
  const opened = await openMessage(source, {
    keyring: storage.keys.keyring(),
    expectedContext: objectContext(r.tenant_id, r.id),
    cache: ctx.dataKeys,
    cacheScope: `${r.tenant_id}/${storage.keys.keyId}`,
  });
  if (opened.info.plaintextLength !== r.size) {
    throw new IntegrityError('the stored object does not hold the recorded number of bytes');
  }
  return opened;
}
