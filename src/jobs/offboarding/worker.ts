import { Worker, type WorkerOptions } from 'bullmq';
import type { Context } from '../../context.js';
import { runTenantDeletion } from '../../domain/offboarding/delete-tenant.js';
import { runExport } from '../../domain/offboarding/export.js';
import { QUEUES } from '../../queue/names.js';
import { offboardingJob } from './queue.js';

/**
 * Exports and tenant deletions. A deletion of a large tenant runs long, so closing the
 * worker aborts it between recordings (it throws, BullMQ retries, the next run resumes
 * from the rows) instead of holding up shutdown. Stalls (a killed worker) are recovered
 * however often: every run resumes safely.
 */
export function offboardingWorker(ctx: Context, options: WorkerOptions): Worker {
  const running = new Set<AbortController>();
  const worker = new Worker(
    QUEUES.offboarding,
    async (job) => {
      const data = offboardingJob.parse(job.data);
      const abort = new AbortController();
      running.add(abort);
      try {
        if (data.kind === 'export') await runExport(ctx, data.exportId);
        else await runTenantDeletion(ctx, data.tenantId, abort.signal);
      } finally {
        running.delete(abort);
      }
    },
    { ...options, concurrency: 2, maxStalledCount: 1_000_000 },
  );
  worker.on('closing', () => {
    for (const abort of running) abort.abort(new Error('worker shutting down; the job resumes on retry'));
  });
  return worker;
}
