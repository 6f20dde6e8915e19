import type { Job, Queue } from 'bullmq';
import type { Context } from '../context.js';
import { findWork } from '../db/recordings.js';
import { deleteJobId } from '../queue/names.js';

/** A job that will not run again by itself. */
async function isDead(job: Job | undefined): Promise<boolean> {
  if (!job) return true;
  const state = await job.getState();
  return state === 'failed' || state === 'completed' || state === 'unknown';
}

async function ensureJob(queue: Queue, id: string, add: () => Promise<unknown>): Promise<boolean> {
  const job = await queue.getJob(id);
  if (!(await isDead(job))) return false;
  if (job) await job.remove().catch(() => {});
  await add();
  return true;
}

/**
 * PostgreSQL is the system of record and Redis only the work queue: every pending row
 * must have a live job. Run at start and periodically, this re-enqueues whatever a
 * Redis outage, a wiped Redis or an exhausted retry left without one, and retries
 * blocked recordings whose slow-retry time has come.
 */
export async function reconcile(ctx: Context, batch = 1000): Promise<{ enqueued: number }> {
  const { producer } = ctx;
  let enqueued = 0;
  for (const row of await findWork(ctx.db, batch)) {
    const job = { v: 1 as const, recordingId: row.id, tenantId: row.tenant_id };
    const added =
      row.status === 'deleting'
        ? await ensureJob(producer.delete, deleteJobId(row.id), () =>
            producer.enqueueDelete({ ...job, reason: 'request' }),
          )
        : await ensureJob(producer.transfer, row.id, () => producer.enqueueTransfer(job));
    if (added) enqueued += 1;
  }
  if (enqueued > 0) ctx.log.info({ enqueued }, 'reconciler enqueued missing jobs');
  return { enqueued };
}
