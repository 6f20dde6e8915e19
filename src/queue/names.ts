/**
 * Queue names. BullMQ keys are `<prefix>:<queue>:…`; the default prefix `{custody}` is a
 * Redis Cluster hash tag, so every key of every queue lands in one slot (BullMQ's Lua
 * scripts touch several keys at once and need that).
 */
export const QUEUES = {
  /** spool → tenant storage; job id = recording id */
  transfer: 'transfer',
  /** removes a recording's object, spool copy and pending job; job id = `del-<recording id>` */
  delete: 'delete',
  /** repeatable retention sweep and reconciler */
  maintenance: 'maintenance',
  /** direct queue ingest from recorders sharing a volume (see docs/direct-ingest.md) */
  inbound: 'inbound',
  /** rewrap / re-encrypt / storage migration of a tenant's recordings; job id = key job id */
  keyJobs: 'key-jobs',
  /** tenant exports and tenant deletions; job id = `export-<id>` / `tenant-delete-<tenant id>` */
  offboarding: 'offboarding',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export const deleteJobId = (recordingId: string) => `del-${recordingId}`;
