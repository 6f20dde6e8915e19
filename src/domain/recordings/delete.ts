import type { Context } from '../../context.js';
import { transaction } from '../../db/pool.js';
import {
  getRecording,
  lockRecording,
  markDeleted,
  markDeleting,
  type RecordingRow,
} from '../../db/recordings.js';
import { conflict, notFound, StorageError } from '../../errors.js';
import { appendAudit } from '../audit.js';
import { removeSidecars } from './metadata-sidecar.js';

export type DeleteReason = 'request' | 'retention' | 'tenant-deletion';

/**
 * Marks a recording `deleting` (refused under legal hold) and hands the removal to the
 * delete job. Idempotent: a second request for a deleting or deleted recording is a no-op
 * (`requested: false`: this call did not start the deletion).
 */
export async function requestDelete(
  ctx: Context,
  actor: string,
  recordingId: string,
  reason: DeleteReason,
): Promise<RecordingRow & { requested: boolean }> {
  const row = await transaction(ctx.db, async (tx) => {
    const r = await lockRecording(tx, recordingId);
    if (!r) throw notFound('Recording');
    if (r.status === 'deleting' || r.status === 'deleted') return { ...r, requested: false };
    if (r.legal_hold) throw conflict('The recording is on legal hold.', 'LEGAL_HOLD');
    await markDeleting(tx, r.id);
    await appendAudit(tx, r.tenant_id, {
      actor,
      action: 'recording.delete-requested',
      target: `recording:${r.id}`,
      detail: { reason, previousStatus: r.status },
    });
    return { ...r, status: 'deleting' as const, requested: true };
  });
  if (row.status === 'deleting') {
    await ctx.producer.removeTransfer(row.id);
    await ctx.producer
      .enqueueDelete({ v: 1, recordingId: row.id, tenantId: row.tenant_id, reason })
      .catch(() => ctx.log.warn({ recordingId: row.id }, 'delete not enqueued; the reconciler will'));
  }
  return row;
}

/**
 * Removes every copy of a `deleting` recording — the stored object (or whatever part of
 * it a running transfer uploaded) and its metadata sidecar (either kind; older recordings
 * have none), the spooled copy, the pending job — then marks it
 * `deleted`. Safe to repeat; a transfer that finishes afterwards sees the status and
 * removes its own upload.
 */
export async function performDelete(ctx: Context, recordingId: string): Promise<boolean> {
  const r = await getRecording(ctx.db, recordingId);
  if (r?.status !== 'deleting') return false;
  await ctx.producer.removeTransfer(r.id);
  if (r.storage_version !== null && r.object_key) {
    const storage = await ctx.storage.resolve(r.tenant_id, r.storage_version);
    const key = r.object_key;
    const removeAll = async () => {
      await storage.target.delete(key);
      await removeSidecars(storage.target, key);
    };
    await removeAll().catch((err: unknown) => {
      // A bucket that does not exist holds no object (a blocked recording's usual case):
      // nothing is left there to remove. Anything else (e.g. access denied) is retried.
      if (err instanceof StorageError && err.kind === 'container-missing') return;
      throw err;
    });
  }
  if (r.spool_file) await ctx.spool.remove(r.spool_file);
  return transaction(ctx.db, async (tx) => {
    const done = await markDeleted(tx, r.id);
    if (done) {
      await appendAudit(tx, r.tenant_id, {
        actor: 'system',
        action: 'recording.deleted',
        target: `recording:${r.id}`,
        detail: {},
      });
    }
    return done;
  });
}
