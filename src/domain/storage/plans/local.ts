import { z } from 'zod';
import type { ProviderPlan } from './plan.js';

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
  handshake: { wrap: 'wrap-key', unwrap: 'unwrap-key', headProbe: false },
};
