import type { Context } from '../../context.js';
import { lockTenantStatus } from '../../db/offboarding.js';
import { transaction } from '../../db/pool.js';
import { getRecording, lockRecording, requeueBlocked, setLegalHold } from '../../db/recordings.js';
import { conflict, notFound } from '../../errors.js';
import { appendAudit } from '../audit.js';
import { setStoredLegalHold } from './metadata-sidecar.js';
import { type RecordingView, recordingView } from './view.js';

export async function putLegalHold(
  ctx: Context,
  actor: string,
  recordingId: string,
  hold: boolean,
  reason: string | undefined,
): Promise<RecordingView> {
  await transaction(ctx.db, async (tx) => {
    const r = await lockRecording(tx, recordingId);
    if (!r) throw notFound('Recording');
    if (r.status === 'deleting' || r.status === 'deleted') {
      throw conflict('The recording is being deleted or is deleted.', 'RECORDING_DELETED');
    }
    // A tenant deletion checks for holds under the tenant's row lock: take it too, so a
    // hold is either seen by that check or refused here, never lost in between.
    if ((await lockTenantStatus(tx, r.tenant_id)) !== 'active') {
      throw conflict('The tenant is being deleted.', 'TENANT_DELETED');
    }
    // WORM storage: the store first, under the row lock, then the row. A store failure
    // rolls the row back, so the two never disagree. A recording not stored yet gets its
    // hold from the transfer (in the put, or under this same lock before it is marked stored).
    if (r.status === 'stored' && r.storage_version !== null && r.object_key) {
      const { target } = await ctx.storage.resolve(r.tenant_id, r.storage_version);
      await setStoredLegalHold(target, r.object_key, hold);
    }
    await setLegalHold(tx, r.id, hold, reason ?? null);
    await appendAudit(tx, r.tenant_id, {
      actor,
      action: hold ? 'recording.legal-hold-set' : 'recording.legal-hold-released',
      target: `recording:${r.id}`,
      detail: reason ? { reason } : {},
    });
  });
  return recordingView((await getRecording(ctx.db, recordingId))!);
}

/** The tenant fixed its bucket or key: retry a blocked recording now. */
export async function retryBlocked(ctx: Context, actor: string, recordingId: string): Promise<RecordingView> {
  const requeued = await transaction(ctx.db, async (tx) => {
    const ok = await requeueBlocked(tx, recordingId);
    if (ok) {
      const r = (await getRecording(tx, recordingId))!;
      await appendAudit(tx, r.tenant_id, {
        actor,
        action: 'recording.retry',
        target: `recording:${r.id}`,
        detail: {},
      });
    }
    return ok;
  });
  const row = (await getRecording(ctx.db, recordingId))!;
  if (!requeued)
    throw conflict(`Only a blocked recording can be retried (this one is ${row.status}).`, 'NOT_BLOCKED');
  await ctx.producer
    .enqueueTransfer({ v: 1, recordingId, tenantId: row.tenant_id })
    .catch(() => ctx.log.warn({ recordingId }, 'retry not enqueued; the reconciler will'));
  return recordingView(row);
}
