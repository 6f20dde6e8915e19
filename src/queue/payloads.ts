import { z } from 'zod';

/** Payloads carry ids and a version, never audio, keys or secrets. */
export const transferJob = z.object({ v: z.literal(1), recordingId: z.string(), tenantId: z.string() });
export type TransferJob = z.infer<typeof transferJob>;

export const deleteJob = z.object({
  v: z.literal(1),
  recordingId: z.string(),
  tenantId: z.string(),
  reason: z.enum(['request', 'retention']),
});
export type DeleteJob = z.infer<typeof deleteJob>;

export const maintenanceJob = z.object({ v: z.literal(1), task: z.enum(['retention', 'reconcile']) });
export type MaintenanceJob = z.infer<typeof maintenanceJob>;
