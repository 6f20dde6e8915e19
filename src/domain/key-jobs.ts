import { randomBytes } from 'node:crypto';
import type { Context } from '../context.js';
import {
  countPending,
  finishKeyJob,
  foreignRecordingIds,
  getKeyJob,
  insertKeyJob,
  itemFailures,
  type KeyJobKind,
  type KeyJobRow,
  listKeyJobs,
  setTotal,
} from '../db/key-jobs.js';
import { type DbClient, transaction } from '../db/pool.js';
import { getStorageVersion } from '../db/storage-versions.js';
import { badRequest, conflict, notFound } from '../errors.js';
import { enqueueKeyJob } from '../queue/key-jobs.js';
import { appendAudit } from './audit.js';
import { requireTenant } from './tenants.js';

/** Recordings per second when the caller names no rate: gentle on the tenant's key service. */
export const DEFAULT_RATE_PER_SECOND = 10;

export interface StartKeyJobInput {
  kind: KeyJobKind;
  /** @defaultValue the tenant's active storage version */
  targetVersion?: number;
  /** @defaultValue DEFAULT_RATE_PER_SECOND */
  ratePerSecond?: number;
  /** `reencrypt` only: just these recordings (a suspected data-key compromise). @defaultValue all stored */
  recordingIds?: string[];
}

export interface KeyJobView {
  id: string;
  tenantId: string;
  kind: KeyJobKind;
  targetVersion: number;
  status: KeyJobRow['status'];
  total: number;
  done: number;
  failed: number;
  skipped: number;
  remaining: number;
  ratePerSecond: number;
  recordingIds?: string[];
  error?: string;
  startedAt: string;
  finishedAt?: string;
  failures?: { recordingId: string; code: string; message: string }[];
}

export function keyJobView(j: KeyJobRow): KeyJobView {
  // A finished job has nothing left; a running or cancelled one has what it did not reach.
  const left = Math.max(0, j.total - j.done - j.failed - j.skipped);
  return {
    id: j.id,
    tenantId: j.tenant_id,
    kind: j.kind,
    targetVersion: j.target_version,
    status: j.status,
    total: j.total,
    done: j.done,
    failed: j.failed,
    skipped: j.skipped,
    remaining: j.status === 'running' || j.status === 'cancelled' ? left : 0,
    ratePerSecond: j.rate_per_second,
    ...(j.recording_ids ? { recordingIds: j.recording_ids } : {}),
    ...(j.error ? { error: j.error } : {}),
    startedAt: j.created_at.toISOString(),
    ...(j.finished_at ? { finishedAt: j.finished_at.toISOString() } : {}),
  };
}

async function finishEmpty(tx: DbClient, job: KeyJobRow): Promise<KeyJobRow> {
  const ended = (await finishKeyJob(tx, job.id, 'done', null)) ?? job;
  await appendAudit(tx, job.tenant_id, {
    actor: 'system',
    action: 'key-job.finished',
    target: `key-job:${job.id}`,
    detail: {
      kind: job.kind,
      status: 'done',
      targetVersion: job.target_version,
      done: 0,
      failed: 0,
      skipped: 0,
    },
  });
  return ended;
}

/**
 * Starts a rewrap, re-encryption or migration of a tenant's stored recordings onto a
 * storage version (default: the active one). One running job per tenant (409 otherwise).
 * A job with nothing to do is done at once; otherwise it is queued for the workers.
 */
export async function startKeyJob(
  ctx: Context,
  actor: string,
  tenantId: string,
  input: StartKeyJobInput,
): Promise<KeyJobView> {
  const tenant = await requireTenant(ctx.db, tenantId);
  const targetVersion = input.targetVersion ?? tenant.active_storage_version;
  if (targetVersion === null) throw conflict('The tenant has not registered storage yet.', 'NO_STORAGE');
  const version = await getStorageVersion(ctx.db, tenantId, targetVersion);
  if (!version) throw badRequest(`Storage version ${targetVersion} does not exist.`);
  if (!ctx.storage.plan(version.provider)) {
    throw badRequest(
      `Storage provider "${version.provider}" is not enabled on this service.`,
      'PROVIDER_NOT_ENABLED',
    );
  }
  const recordingIds = input.recordingIds ?? null;
  if (recordingIds && input.kind !== 'reencrypt') throw badRequest('recordingIds applies to reencrypt only.');
  if (recordingIds && (await foreignRecordingIds(ctx.db, tenantId, recordingIds)).length > 0) {
    throw notFound('Recording');
  }
  const id = `kj_${randomBytes(8).toString('hex')}`;
  const job = await transaction(ctx.db, async (tx) => {
    const inserted = await insertKeyJob(tx, {
      id,
      tenantId,
      kind: input.kind,
      targetVersion,
      recordingIds,
      ratePerSecond: input.ratePerSecond ?? DEFAULT_RATE_PER_SECOND,
      createdBy: actor,
    });
    if (!inserted) throw conflict('A key job is already running for this tenant.', 'KEY_JOB_RUNNING');
    const total = await countPending(tx, { tenantId, id, kind: input.kind, targetVersion, recordingIds });
    const started = await setTotal(tx, id, total);
    await appendAudit(tx, tenantId, {
      actor,
      action: 'key-job.started',
      target: `key-job:${id}`,
      detail: { kind: input.kind, targetVersion, total, ratePerSecond: started.rate_per_second },
    });
    return total === 0 ? finishEmpty(tx, started) : started;
  });
  if (job.status === 'running') await enqueue(ctx, job);
  return keyJobView(job);
}

/** Best effort: with Redis down the row stays running and the reconciler enqueues it. */
async function enqueue(ctx: Context, job: KeyJobRow): Promise<void> {
  await enqueueKeyJob(ctx, { v: 1, jobId: job.id, tenantId: job.tenant_id }).catch(() =>
    ctx.log.warn({ jobId: job.id }, 'key job not enqueued; the reconciler will'),
  );
}

export async function describeKeyJob(ctx: Context, tenantId: string, id: string): Promise<KeyJobView> {
  await requireTenant(ctx.db, tenantId);
  const job = await getKeyJob(ctx.db, tenantId, id);
  if (!job) throw notFound('Key job');
  const failures = job.failed > 0 ? await itemFailures(ctx.db, id, 20) : [];
  return {
    ...keyJobView(job),
    ...(failures.length
      ? {
          failures: failures.map((f) => ({
            recordingId: f.recording_id,
            code: f.error_code,
            message: f.error_message,
          })),
        }
      : {}),
  };
}

export async function listKeyJobViews(ctx: Context, tenantId: string, limit: number): Promise<KeyJobView[]> {
  await requireTenant(ctx.db, tenantId);
  return (await listKeyJobs(ctx.db, tenantId, limit)).map(keyJobView);
}

/**
 * Cancels a running job (idempotent: a finished job is returned as it is). The worker
 * stops before its next recording; a recording already on its way keeps its old object
 * unless its switch committed first. Leftover copies are removed by the workers.
 */
export async function cancelKeyJob(
  ctx: Context,
  actor: string,
  tenantId: string,
  id: string,
): Promise<KeyJobView> {
  await requireTenant(ctx.db, tenantId);
  const job = await transaction(ctx.db, async (tx) => {
    const current = await getKeyJob(tx, tenantId, id);
    if (!current) throw notFound('Key job');
    const cancelled = await finishKeyJob(tx, id, 'cancelled', null);
    if (!cancelled) return current;
    await appendAudit(tx, tenantId, {
      actor,
      action: 'key-job.cancelled',
      target: `key-job:${id}`,
      detail: {
        kind: cancelled.kind,
        done: cancelled.done,
        failed: cancelled.failed,
        skipped: cancelled.skipped,
      },
    });
    return cancelled;
  });
  // A run of a cancelled job only removes what it left behind (see runKeyJob).
  if (job.status === 'cancelled') await enqueue(ctx, job);
  return keyJobView(job);
}
