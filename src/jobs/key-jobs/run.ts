import { setTimeout as delay } from 'node:timers/promises';
import type { Context } from '../../context.js';
import { finishKeyJob, getKeyJob, type KeyJobRow, nextPending } from '../../db/key-jobs.js';
import { type Db, transaction } from '../../db/pool.js';
import { getRecording } from '../../db/recordings.js';
import { appendAudit } from '../../domain/audit.js';
import type { KeyJobPayload } from '../../queue/key-jobs.js';
import { relocateOne } from './relocate.js';
import { mapLimited } from '../../util/map-limited.js';
import { settleLeftovers } from './settle.js';

/** Recordings fetched per query; each is re-read just before it is worked on. */
const BATCH = 50;

const VERB = { rewrap: 'rewrapped', reencrypt: 're-encrypted', migrate: 'migrated' } as const;

async function statusOf(db: Db, job: KeyJobRow) {
  return (await getKeyJob(db, job.tenant_id, job.id))?.status;
}

/**
 * Runs (or resumes) one key job to its end. Resumable at any point: what is done is
 * visible in the rows (a recording on the target version, or this job's settled item),
 * so a re-run after a crash, a retry or a worker shutdown carries on where it was.
 * Paced to `rate_per_second` recordings, up to `CUSTODY_KEY_JOB_CONCURRENCY` of them at
 * once; stops between recordings when cancelled, or (throwing, so the queue hands it on)
 * when the worker shuts down.
 */
export async function runKeyJob(ctx: Context, payload: KeyJobPayload, signal?: AbortSignal): Promise<void> {
  const job = await getKeyJob(ctx.db, payload.tenantId, payload.jobId);
  if (!job || job.status === 'done' || job.status === 'failed') return;
  await settleLeftovers(ctx, job.tenant_id);
  // A cancelled job is run once more only to remove what it left behind.
  if (job.status === 'cancelled') return;

  const interval = 1000 / job.rate_per_second;
  let nextStart = Date.now();
  let cursor = '';
  let stop = false;
  /** Waits for this recording's turn under the job's rate; false once the job is no longer running. */
  const turn = async (): Promise<boolean> => {
    const slot = Math.max(nextStart, Date.now());
    nextStart = slot + interval;
    // In steps of at most a second so that a cancel is seen promptly.
    for (;;) {
      signal?.throwIfAborted();
      if (stop || (await statusOf(ctx.db, job)) !== 'running') return false;
      const wait = slot - Date.now();
      if (wait <= 0) return true;
      await delay(Math.min(wait, 1000), undefined, { signal });
    }
  };
  const one = async (id: string): Promise<void> => {
    if (!(await turn())) {
      stop = true;
      return;
    }
    // The batch is a snapshot: take the row as it is now.
    const r = await getRecording(ctx.db, id);
    if (r?.status !== 'stored' || (job.kind !== 'reencrypt' && r.storage_version === job.target_version))
      return;
    const outcome = await relocateOne(ctx, job, r, signal);
    ctx.metrics.keyJobRecordings.inc({ kind: job.kind, outcome });
    if (outcome === 'cancelled') stop = true;
  };
  while (!stop) {
    const batch = await nextPending(ctx.db, job, cursor, BATCH);
    if (batch.length === 0) break;
    cursor = batch[batch.length - 1]!.id;
    // Several recordings at once (each its own items, locks and objects); a failure stops
    // new ones, and the job is retried from the rows once those in flight have ended.
    await mapLimited(batch, ctx.config.worker.keyJobConcurrency, (candidate) => one(candidate.id));
  }
  if (stop) return void (await settleLeftovers(ctx, job.tenant_id));
  await settleLeftovers(ctx, job.tenant_id);
  await finish(ctx, job);
}

async function finish(ctx: Context, job: KeyJobRow): Promise<void> {
  await transaction(ctx.db, async (tx) => {
    const now = await getKeyJob(tx, job.tenant_id, job.id);
    if (!now) return;
    const error =
      now.failed > 0
        ? `${now.failed} recording(s) could not be ${VERB[job.kind]}; they keep their old object.`
        : null;
    const ended = await finishKeyJob(tx, job.id, now.failed > 0 ? 'failed' : 'done', error);
    if (!ended) return; // cancelled meanwhile
    await appendAudit(tx, job.tenant_id, {
      actor: 'system',
      action: 'key-job.finished',
      target: `key-job:${job.id}`,
      detail: {
        kind: job.kind,
        status: ended.status,
        targetVersion: job.target_version,
        done: ended.done,
        failed: ended.failed,
        skipped: ended.skipped,
      },
    });
  });
}
