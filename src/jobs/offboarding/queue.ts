import { type JobsOptions, Queue } from 'bullmq';
import { z } from 'zod';
import type { Context } from '../../context.js';
import { runningExports, unfinishedDeletions } from '../../db/offboarding.js';
import { QUEUES } from '../../queue/names.js';

/** Ids only. The job id is derived from them, so enqueueing the same work twice is harmless. */
export const offboardingJob = z.discriminatedUnion('kind', [
  z.object({ v: z.literal(1), kind: z.literal('export'), tenantId: z.string(), exportId: z.string() }),
  z.object({ v: z.literal(1), kind: z.literal('delete-tenant'), tenantId: z.string() }),
]);
export type OffboardingJob = z.infer<typeof offboardingJob>;

const jobIdOf = (j: OffboardingJob) =>
  j.kind === 'export' ? `export-${j.exportId}` : `tenant-delete-${j.tenantId}`;

/**
 * Progress lives in PostgreSQL (the export row, the recordings' states, the deletion's
 * phase), so finished BullMQ jobs are removed and a lost one is simply enqueued again by
 * the reconciler tick. Transient failures retry with the workers' backoff.
 */
const OPTIONS: JobsOptions = {
  attempts: 10_000,
  backoff: { type: 'custom' },
  removeOnComplete: true,
  removeOnFail: true,
};

// One queue handle per process context, on the producer's connection (closed with it).
const queues = new WeakMap<Context, Queue>();

function queueOf(ctx: Context): Queue {
  let q = queues.get(ctx);
  if (!q) {
    q = new Queue(QUEUES.offboarding, {
      connection: ctx.producer.connection,
      prefix: ctx.config.queuePrefix,
    });
    q.on('error', () => {});
    queues.set(ctx, q);
  }
  return q;
}

export function enqueueOffboarding(ctx: Context, job: OffboardingJob): Promise<unknown> {
  return queueOf(ctx).add(job.kind, job, { ...OPTIONS, jobId: jobIdOf(job) });
}

/**
 * Run by the reconciler tick: every running export and unfinished tenant deletion gets a
 * queue job again (a no-op while its job is waiting or active), so a crashed worker, a
 * wiped Redis or an enqueue lost while Redis was down only delays the work.
 */
export async function resumeOffboarding(ctx: Context): Promise<void> {
  for (const e of await runningExports(ctx.db)) {
    await enqueueOffboarding(ctx, { v: 1, kind: 'export', tenantId: e.tenant_id, exportId: e.id });
  }
  for (const tenantId of await unfinishedDeletions(ctx.db)) {
    await enqueueOffboarding(ctx, { v: 1, kind: 'delete-tenant', tenantId });
  }
}
