import type { Context } from '../context.js';
import { pruneIdempotencyKeys } from '../db/idempotency.js';
import { findExpired } from '../db/recordings.js';
import { performDelete, requestDelete } from './recordings/delete.js';

export interface RetentionResult {
  deleted: number;
  kept: { legalHold: number };
}

/**
 * Deletes recordings whose `expiresAt` has passed and that are not on legal hold —
 * from the tenant's storage and from the spool — in batches until none are left.
 * Without `tenantId` it sweeps every tenant (the scheduled job).
 */
export async function runRetention(ctx: Context, tenantId?: string, batch = 200): Promise<RetentionResult> {
  const result: RetentionResult = { deleted: 0, kept: { legalHold: 0 } };
  const held = new Set<string>();
  for (;;) {
    const expired = (await findExpired(ctx.db, tenantId, batch + held.size)).filter((r) => !held.has(r.id));
    if (expired.length === 0) break;
    for (const r of expired) {
      if (r.legal_hold) {
        held.add(r.id);
        result.kept.legalHold += 1;
        continue;
      }
      let requested: boolean;
      try {
        ({ requested } = await requestDelete(ctx, 'system:retention', r.id, 'retention'));
      } catch (err) {
        // A hold placed between the query and the lock: keep it.
        if ((err as { code?: string }).code === 'LEGAL_HOLD') {
          held.add(r.id);
          result.kept.legalHold += 1;
          continue;
        }
        throw err;
      }
      // The delete job may finish it first: either way it is gone once this returns.
      await performDelete(ctx, r.id);
      if (requested) result.deleted += 1;
    }
    if (expired.every((r) => held.has(r.id))) break;
  }
  if (!tenantId) await pruneIdempotencyKeys(ctx.db);
  return result;
}
