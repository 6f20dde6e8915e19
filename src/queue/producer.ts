import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { redisConnection } from './connection.js';
import { deleteJobId, QUEUES } from './names.js';
import type { DeleteJob, MaintenanceJob, TransferJob } from './payloads.js';

/** Exponential backoff for transient failures, capped so a long outage retries every few minutes. */
export const TRANSFER_JOB_OPTIONS: JobsOptions = {
  attempts: 10_000,
  backoff: { type: 'custom' },
  removeOnComplete: true,
  removeOnFail: { age: 7 * 24 * 3600 },
};

/**
 * The API's (and workers') handle on the queues. Enqueueing is best effort: when Redis
 * is down the row stays the truth and the reconciler enqueues it later.
 */
export class Producer {
  readonly connection: Redis;
  readonly transfer: Queue;
  readonly delete: Queue;
  readonly maintenance: Queue;

  constructor(
    redisUrl: string,
    readonly prefix: string,
  ) {
    this.connection = redisConnection(redisUrl, 'producer');
    const opts = { connection: this.connection, prefix };
    this.transfer = new Queue(QUEUES.transfer, opts);
    this.delete = new Queue(QUEUES.delete, opts);
    this.maintenance = new Queue(QUEUES.maintenance, opts);
    for (const q of [this.transfer, this.delete, this.maintenance]) q.on('error', () => {});
  }

  get redisReady(): boolean {
    return this.connection.status === 'ready';
  }

  enqueueTransfer(job: TransferJob, delayMs = 0): Promise<unknown> {
    return this.transfer.add('transfer', job, {
      ...TRANSFER_JOB_OPTIONS,
      jobId: job.recordingId,
      delay: delayMs,
    });
  }

  enqueueDelete(job: DeleteJob): Promise<unknown> {
    return this.delete.add('delete', job, { ...TRANSFER_JOB_OPTIONS, jobId: deleteJobId(job.recordingId) });
  }

  runMaintenance(job: MaintenanceJob): Promise<unknown> {
    return this.maintenance.add(job.task, job, { removeOnComplete: true, removeOnFail: 100 });
  }

  /** Best effort: a job that is running cannot be removed (the handler re-checks the row). */
  async removeTransfer(recordingId: string): Promise<void> {
    await this.transfer.remove(recordingId).catch(() => 0);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.transfer.close(), this.delete.close(), this.maintenance.close()]);
    this.connection.disconnect();
  }
}
