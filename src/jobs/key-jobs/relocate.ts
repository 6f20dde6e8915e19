import type { Context } from '../../context.js';
import {
  beginItem,
  countOutcome,
  type KeyJobRow,
  lockRunningJob,
  objectInUse,
  relocateRecording,
  setItemState,
} from '../../db/key-jobs.js';
import { transaction } from '../../db/pool.js';
import { getRecording, lockRecording, type RecordingRow } from '../../db/recordings.js';
import { appendAudit } from '../../domain/audit.js';
import {
  putSidecar,
  readSidecar,
  removeSidecars,
  setStoredLegalHold,
} from '../../domain/recordings/metadata-sidecar.js';
import type { ResolvedStorage } from '../../domain/storage/resolver.js';
import { IntegrityError, StorageError } from '../../errors.js';
import { InvalidObjectKeyError } from '../../storage/object-key.js';
import type { ObjectInfo } from '../../storage/storage-target.js';
import { crashPoint } from '../crash-point.js';
import { tenantFixable } from '../outcomes.js';
import { relocatedObjectKey } from './object-key.js';
import { produceObject, putObject, type RelocationMode } from './produce.js';
import { verifyNewObject } from './verify.js';

/** Crash points used by the key-rotation crash tests. */
export const KEY_JOB_CRASH = {
  /** The new object is written and verified; the row still points at the old one. */
  afterPut: 'key-job:after-put-before-switch',
  /** The row points at the new object; the old one is not deleted yet. */
  afterSwitch: 'key-job:after-switch-before-delete',
} as const;

const AUDIT_ACTION = {
  rewrap: 'recording.rewrapped',
  reencrypt: 'recording.reencrypted',
  migrate: 'recording.migrated',
} as const;

/** `cancelled`: the job was cancelled while this recording was on its way; it keeps its old object. */
export type Outcome = 'done' | 'failed' | 'skipped' | 'cancelled';

/** Rewrap and migrate copy the bytes as they are when the key is the same: only the location changes. */
function modeFor(
  job: KeyJobRow,
  r: RecordingRow,
  from: ResolvedStorage,
  to: ResolvedStorage,
): RelocationMode {
  if (job.kind === 'reencrypt') return 'reencrypt';
  const sameKey = from.keys.kind === to.keys.kind && r.key_id !== null && r.key_id === to.keys.keyId;
  return job.kind === 'migrate' && sameKey ? 'copy' : 'rewrap';
}

/**
 * Failures of this one recording that retrying the job cannot fix (the tenant's key or
 * bucket refuses, the stored object is missing or does not authenticate): the recording
 * keeps its old object and the job counts it as failed. Anything else is transient and
 * throws, so the job retries later and redoes this recording.
 */
export function recordingFailure(err: unknown): { code: string; message: string } | undefined {
  const fixable = tenantFixable(err);
  if (fixable) return fixable;
  if (err instanceof IntegrityError) return { code: err.code, message: err.message };
  if (err instanceof StorageError && err.kind === 'not-found')
    return { code: err.code, message: err.message };
  if (err instanceof InvalidObjectKeyError) return { code: err.code, message: err.message };
  return undefined;
}

/**
 * Deletes an audio object and its metadata sidecar unless a recording row points at the
 * object (then both are live, whatever the caller thought).
 */
export async function removeUnlessLive(ctx: Context, storage: ResolvedStorage, key: string): Promise<void> {
  if (await objectInUse(ctx.db, storage.tenantId, storage.version, key)) return;
  const removeBoth = async () => {
    await storage.target.delete(key);
    await removeSidecars(storage.target, key);
  };
  await removeBoth().catch((err: unknown) => {
    // A bucket that is gone holds no object.
    if (err instanceof StorageError && err.kind === 'container-missing') return;
    throw err;
  });
}

/** How much of a new object the store copied itself, and how much went through here. */
function countBytes(ctx: Context, job: KeyJobRow, size: number, copied: ObjectInfo['copiedRanges']): void {
  const server = (copied ?? []).reduce((sum, range) => sum + range.end - range.start + 1, 0);
  if (server > 0) ctx.metrics.keyJobBytes.inc({ kind: job.kind, method: 'server-copy' }, server);
  ctx.metrics.keyJobBytes.inc({ kind: job.kind, method: 'streamed' }, size - server);
}

/** Ends a recording's item without a switch, and counts it. */
async function settleItem(
  ctx: Context,
  job: KeyJobRow,
  r: RecordingRow,
  outcome: 'failed' | 'skipped',
  failure?: { code: string; message: string },
): Promise<Outcome> {
  await transaction(ctx.db, async (tx) => {
    await setItemState(tx, job.id, r.id, outcome, failure);
    await countOutcome(tx, job.id, outcome);
  });
  return outcome;
}

/**
 * One recording: write its new object (and its metadata sidecar, if the old one had one)
 * under the target version at a new key, verify it, point the row at it (with the audit
 * entry, in one transaction), then delete the old object and its sidecar. The item row written first says what a crash at any step may leave behind;
 * the live object is never overwritten, so nothing is lost, and a re-run ends with one.
 */
export async function relocateOne(
  ctx: Context,
  job: KeyJobRow,
  r: RecordingRow,
  signal?: AbortSignal,
): Promise<Outcome> {
  const from = { version: r.storage_version!, key: r.object_key! };
  const toKey = relocatedObjectKey(r, job);
  await beginItem(ctx.db, {
    job_id: job.id,
    recording_id: r.id,
    tenant_id: r.tenant_id,
    from_version: from.version,
    from_key: from.key,
    to_version: job.target_version,
    to_key: toKey,
  });
  let target: ResolvedStorage | undefined;
  let source: ResolvedStorage;
  let info: ObjectInfo;
  let size: number;
  let switched: 'switched' | 'gone' | 'cancelled';
  try {
    source = await ctx.storage.resolve(r.tenant_id, from.version);
    target = await ctx.storage.resolve(r.tenant_id, job.target_version);
    const mode = modeFor(job, r, source, target);
    const oldSidecar = await readSidecar(source.target, from.key);
    const obj = await produceObject(ctx, mode, r, source, target, oldSidecar);
    size = obj.size;
    try {
      info = await putObject(target, toKey, r, obj, signal);
      await verifyNewObject(target, toKey, r, obj, mode, info);
      // Beside the new object before the switch: removing the new object (failure,
      // cancel, leftovers) removes its sidecar too.
      if (obj.sidecar)
        await putSidecar(target.target, toKey, r.id, await obj.sidecar(), signal, {
          retainUntil: r.expires_at,
          legalHold: r.legal_hold,
        });
    } finally {
      obj.dispose();
    }
    crashPoint(ctx.config.crashAt, KEY_JOB_CRASH.afterPut);

    const to = target;
    switched = await transaction(ctx.db, async (tx) => {
      if (!(await lockRunningJob(tx, job.id))) return 'cancelled';
      const now = await lockRecording(tx, r.id);
      // Deleted (or moved by someone else) meanwhile: the row is not ours to change.
      if (now?.status !== 'stored' || now.storage_version !== from.version || now.object_key !== from.key) {
        return 'gone';
      }
      // A hold set or released since the read: the new object follows the row (WORM stores).
      if (now.legal_hold !== r.legal_hold) await setStoredLegalHold(to.target, toKey, now.legal_hold);
      await relocateRecording(tx, r.id, from, {
        version: to.version,
        key: toKey,
        location: to.target.locationOf(toKey),
        objectVersion: info.version ?? null,
        objectSize: size,
        keyId: to.keys.keyId,
      });
      await setItemState(tx, job.id, r.id, 'switched');
      await countOutcome(tx, job.id, 'done');
      await appendAudit(tx, r.tenant_id, {
        actor: 'system',
        action: AUDIT_ACTION[job.kind],
        target: `recording:${r.id}`,
        detail: {
          jobId: job.id,
          mode,
          fromVersion: from.version,
          toVersion: to.version,
          previousKeyId: r.key_id,
          keyId: to.keys.keyId,
          objectSize: size,
        },
      });
      return 'switched';
    });
  } catch (err) {
    const failure = recordingFailure(err);
    if (!failure) throw err;
    // Whatever was written is not the recording's: drop it (best effort; a later run retries).
    if (target) await removeUnlessLive(ctx, target, toKey).catch(() => {});
    // Deleted while being read (its object gone): not a failure of this job.
    const now = await getRecording(ctx.db, r.id);
    if (now?.status !== 'stored') return settleItem(ctx, job, r, 'skipped');
    ctx.log.warn(
      { tenantId: r.tenant_id, recordingId: r.id, jobId: job.id, code: failure.code },
      'key job: recording failed',
    );
    return settleItem(ctx, job, r, 'failed', failure);
  }
  if (switched !== 'switched') {
    // Not ours to switch: the new object must not outlive this decision.
    await removeUnlessLive(ctx, target!, toKey);
    if (switched === 'cancelled') {
      await setItemState(ctx.db, job.id, r.id, 'abandoned');
      return 'cancelled';
    }
    return settleItem(ctx, job, r, 'skipped');
  }

  countBytes(ctx, job, size, info.copiedRanges);
  crashPoint(ctx.config.crashAt, KEY_JOB_CRASH.afterSwitch);
  // A playback that opened the old object just before the switch may still be reading it:
  // the item stays `switched` and the sweep removes the old object once the grace is over.
  if (ctx.config.worker.keyJobDeleteGraceMs > 0) return 'done';
  try {
    await removeUnlessLive(ctx, source, from.key);
    await setItemState(ctx.db, job.id, r.id, 'done');
  } catch (err) {
    // The recording is safely on its new object; the old copy stays listed as pending
    // (`switched`) and the next settle removes it.
    ctx.log.warn(
      { tenantId: r.tenant_id, recordingId: r.id, jobId: job.id, err: (err as Error).message },
      'key job: old object not deleted yet',
    );
  }
  return 'done';
}
