import { z } from 'zod';

/**
 * One entry per storage provider a tenant can register: the PUT body it accepts, how
 * that body splits into clear config and sealed secrets, and which storage target and
 * key provider kinds serve it. AWS (`s3` + `aws-kms`) and Azure (`azure-blob` +
 * `azure-keyvault`) add one entry each.
 */
export interface ProviderPlan {
  provider: string;
  storageKind: string;
  keyKind: string;
  request: z.ZodObject;
  /** Non-secret config (stored in clear, returned by GET) and write-only secrets (sealed). */
  split(request: Record<string, unknown>): {
    config: Record<string, unknown>;
    secrets?: Record<string, unknown>;
  };
}

export const localRequest = z
  .object({
    provider: z.literal('local'),
    path: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'one relative segment: [a-z0-9][a-z0-9._-]{0,62}')
      .optional(),
  })
  .strict();

export const localPlan: ProviderPlan = {
  provider: 'local',
  storageKind: 'local',
  keyKind: 'local',
  request: localRequest,
  split: (r) => ({ config: { path: (r.path as string | undefined) ?? 'default' } }),
};
