import { type JobsOptions, Queue } from 'bullmq';
import { z } from 'zod';
import type { Context } from '../context.js';
import { QUEUES } from './names.js';

/** Ids only, never keys or audio; job id = key job id, so enqueueing twice is harmless. */
export const keyJobPayload = z.object({ v: z.literal(1), jobId: z.string(), tenantId: z.string() });
export type KeyJobPayload = z.infer<typeof keyJobPayload>;

/**
 * Transient failures (storage or key service unreachable) throw and retry with the
 * workers' backoff; the job resumes where it was, so retrying is cheap. Finished BullMQ
 * jobs are removed: the row in `key_jobs` is the record, and a removed job can be
 * enqueued again by the reconciler if its row still says `running`.
 */
const KEY_JOB_OPTIONS: JobsOptions = {
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
    q = new Queue(QUEUES.keyJobs, { connection: ctx.producer.connection, prefix: ctx.config.queuePrefix });
    q.on('error', () => {});
    queues.set(ctx, q);
  }
  return q;
}

export function enqueueKeyJob(ctx: Context, job: KeyJobPayload): Promise<unknown> {
  return queueOf(ctx).add('key-job', job, { ...KEY_JOB_OPTIONS, jobId: job.jobId });
}
