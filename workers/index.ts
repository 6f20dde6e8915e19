import { type Job, Worker } from 'bullmq';
import type { Context } from '../src/context.js';
import { performDelete } from '../src/domain/recordings/delete.js';
import { runRetention } from '../src/domain/retention.js';
import { startAuditCheckpoints } from '../src/jobs/audit-checkpoint.js';
import { ingestFromInbox } from '../src/jobs/inbound.js';
import { sweepLeftovers } from '../src/jobs/key-jobs/settle.js';
import { keyJobWorker, resumeKeyJobs } from '../src/jobs/key-jobs/worker.js';
import { startKeyHealthChecks } from '../src/jobs/key-health.js';
import { resumeOffboarding } from '../src/jobs/offboarding/queue.js';
import { offboardingWorker } from '../src/jobs/offboarding/worker.js';
import { reconcile } from '../src/jobs/reconcile.js';
import { sweepSpool } from '../src/jobs/sweep-spool.js';
import { transferRecording } from '../src/jobs/transfer.js';
import { redisConnection } from '../src/queue/connection.js';
import { QUEUES } from '../src/queue/names.js';
import { startWebhookDispatcher } from '../src/webhooks/dispatcher.js';
import { deleteJob, maintenanceJob, transferJob } from '../src/queue/payloads.js';

export interface RunningWorkers {
  /** Lets running jobs finish (SIGTERM), then disconnects. */
  close(): Promise<void>;
}

/** Exponential from 1 s, capped at 5 minutes: long outages retry steadily, not ever more rarely. */
export const backoff = (attemptsMade: number) => Math.min(1000 * 2 ** Math.max(0, attemptsMade - 1), 300_000);

/**
 * Wires each queue to its handler: transfer (concurrency from config), delete,
 * maintenance (scheduled retention sweep and reconciler). Handlers throw to retry;
 * nothing is swallowed.
 */
export async function startWorkers(ctx: Context): Promise<RunningWorkers> {
  const { config, log } = ctx;
  const connection = redisConnection(config.redisUrl, 'worker');
  const common = {
    connection,
    prefix: config.queuePrefix,
    lockDuration: config.worker.jobLockMs,
    stalledInterval: Math.max(1000, Math.floor(config.worker.jobLockMs / 2)),
    settings: { backoffStrategy: backoff },
  };
  const onFailed = (name: string) => (job: Job | undefined, err: Error) =>
    log.warn(
      { queue: name, jobId: job?.id, attempts: job?.attemptsMade, err: err.message },
      'job failed; will retry',
    );

  const workers = [
    new Worker(QUEUES.transfer, async (job) => transferRecording(ctx, transferJob.parse(job.data)), {
      ...common,
      concurrency: config.worker.concurrency,
    }),
    new Worker(
      QUEUES.delete,
      async (job) => void (await performDelete(ctx, deleteJob.parse(job.data).recordingId)),
      {
        ...common,
        concurrency: 4,
      },
    ),
    new Worker(
      QUEUES.maintenance,
      async (job) => {
        const { task } = maintenanceJob.parse(job.data);
        return task === 'retention' ? runRetention(ctx) : reconcile(ctx);
      },
      { ...common, concurrency: 1 },
    ),
    // Rewrap / re-encrypt / storage migration jobs (resumable; aborted on close, resumed elsewhere).
    keyJobWorker(ctx, common),
    // Tenant exports and deletions (resumable from the rows; aborted on close, resumed elsewhere).
    offboardingWorker(ctx, common),
  ];
  if (config.inbox) {
    workers.push(
      new Worker(QUEUES.inbound, async (job) => ingestFromInbox(ctx, job.data), {
        ...common,
        concurrency: 4,
      }),
    );
  }
  for (const w of workers) {
    w.on('failed', onFailed(w.name));
    w.on('error', (err) => log.warn({ queue: w.name, err: err.message }, 'worker error'));
  }

  // The reconciler runs on a timer in every worker process, not as a Redis-held schedule:
  // a wiped Redis loses its schedules too, and the reconciler is what repairs that. Each
  // tick also re-asserts the retention schedule (idempotent upsert).
  let lastSweep = 0;
  const tick = async () => {
    try {
      await ctx.producer.maintenance.upsertJobScheduler(
        'retention',
        { every: config.worker.retentionIntervalMs },
        { name: 'retention', data: { v: 1, task: 'retention' } },
      );
      await reconcile(ctx);
      await resumeKeyJobs(ctx);
      await resumeOffboarding(ctx);
      await sweepLeftovers(ctx);
      if (Date.now() - lastSweep > 10 * 60_000) {
        lastSweep = Date.now();
        await sweepSpool(ctx);
      }
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'reconcile deferred: Redis unavailable');
    }
  };
  let ticking = Promise.resolve();
  const runTick = () => {
    ticking = ticking.then(tick);
  };
  const timer = setInterval(runTick, config.worker.reconcileIntervalMs);
  timer.unref();
  // At start, and as soon as Redis comes back (it may have lost everything).
  ctx.producer.connection.on('ready', runTick);
  runTick();
  await ticking;
  // Each tenant's key checked every CUSTODY_KEY_HEALTH_INTERVAL_SECONDS (claimed per tenant across workers).
  const keyHealth = startKeyHealthChecks(ctx);
  // Audit head copied into each tenant's own storage every CUSTODY_AUDIT_CHECKPOINT_INTERVAL_SECONDS.
  const checkpoints = await startAuditCheckpoints(ctx);
  // Webhooks: each endpoint's audit events delivered in order, every CUSTODY_WEBHOOK_INTERVAL_SECONDS.
  const webhooks = startWebhookDispatcher(ctx);

  return {
    async close() {
      clearInterval(timer);
      ctx.producer.connection.off('ready', runTick);
      await ticking;
      await keyHealth.stop();
      await checkpoints.close();
      await webhooks.close();
      await Promise.all(workers.map((w) => w.close()));
      connection.disconnect();
    },
  };
}
