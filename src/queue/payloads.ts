import { z } from 'zod';

/** Payloads carry ids and a version, never audio, keys or secrets. */
export const transferJob = z.object({ v: z.literal(1), recordingId: z.string(), tenantId: z.string() });
export type TransferJob = z.infer<typeof transferJob>;

export const deleteJob = z.object({
  v: z.literal(1),
  recordingId: z.string(),
  tenantId: z.string(),
  reason: z.enum(['request', 'retention', 'tenant-deletion']),
});
export type DeleteJob = z.infer<typeof deleteJob>;

export const maintenanceJob = z.object({ v: z.literal(1), task: z.enum(['retention', 'reconcile']) });
export type MaintenanceJob = z.infer<typeof maintenanceJob>;

/**
 * Direct queue ingest, version 1 (docs/direct-ingest.md): a recorder sharing a volume
 * drops `<inbox>/<tenantId>/<file>` and adds this job to the `inbound` queue. `hmac` is
 * hex HMAC-SHA256 under the inbox key over the RFC 8785 canonical JSON of every other field.
 */
export const inboundJob = z.strictObject({
  v: z.literal(1),
  tenantId: z.string().regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/),
  file: z.string().regex(/^[A-Za-z0-9_-]{1,200}$/),
  contentType: z.string().regex(/^audio\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/i),
  callId: z.string().min(1).max(128),
  agentId: z.string().min(1).max(128).optional(),
  startedAt: z.iso.datetime({ offset: true }).optional(),
  direction: z.enum(['inbound', 'outbound']).optional(),
  idempotencyKey: z
    .string()
    .regex(/^[\x21-\x7e]{1,128}$/)
    .optional(),
  hmac: z.string().regex(/^[0-9a-f]{64}$/),
});
export type InboundJob = z.infer<typeof inboundJob>;
