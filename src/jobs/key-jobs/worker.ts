import { Worker, type WorkerOptions } from 'bullmq';
import type { Context } from '../../context.js';
import { runningKeyJobs } from '../../db/key-jobs.js';
import { enqueueKeyJob, keyJobPayload } from '../../queue/key-jobs.js';
import { QUEUES } from '../../queue/names.js';
import { runKeyJob } from './run.js';

/**
 * The key-jobs worker. A key job can run for hours, so closing the worker (SIGTERM)
 * aborts the running ones between (or during) recordings instead of waiting for them:
 * they throw, BullMQ schedules a retry, and the next worker resumes from the rows.
 * Stalls (a killed worker) are always recovered, however often: every run resumes safely.
 */
export function keyJobWorker(ctx: Context, options: WorkerOptions): Worker {
  const running = new Set<AbortController>();
  const worker = new Worker(
    QUEUES.keyJobs,
    async (job) => {
      const abort = new AbortController();
      running.add(abort);
      try {
        await runKeyJob(ctx, keyJobPayload.parse(job.data), abort.signal);
      } finally {
        running.delete(abort);
      }
    },
    { ...options, concurrency: 2, maxStalledCount: 1_000_000 },
  );
  worker.on('closing', () => {
    for (const abort of running) abort.abort(new Error('worker shutting down; the key job resumes on retry'));
  });
  return worker;
}

/**
 * Makes sure every running key job has a queue job (run on the reconciler's tick): after a
 * wiped Redis, an enqueue that failed while Redis was down, or a job BullMQ gave up on.
 */
export async function resumeKeyJobs(ctx: Context): Promise<void> {
  for (const j of await runningKeyJobs(ctx.db)) {
    await enqueueKeyJob(ctx, { v: 1, jobId: j.id, tenantId: j.tenant_id });
  }
}
