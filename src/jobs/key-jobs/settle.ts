import type { Context } from '../../context.js';
import { setItemState, tenantsWithLeftovers, unsettledItems } from '../../db/key-jobs.js';
import { recordingFailure, removeUnlessLive } from './relocate.js';

/**
 * Removes what earlier runs left behind for a tenant: old objects of recordings already
 * switched to their new one (kept for the delete grace, or left by a crash between the
 * switch and the delete), and new objects of jobs that ended before switching (cancelled,
 * or crashed and then cancelled). An object a recording row points at is never deleted,
 * whatever the item says. Returns how many leftovers are still there (the tenant's
 * storage refused; tried again next time). `graceMs` defaults to the configured grace;
 * tenant deletion passes 0.
 */
export async function settleLeftovers(
  ctx: Context,
  tenantId: string,
  graceMs = ctx.config.worker.keyJobDeleteGraceMs,
): Promise<number> {
  let remaining = 0;
  for (const item of await unsettledItems(ctx.db, tenantId, graceMs)) {
    const old = item.state === 'switched';
    const version = old ? item.from_version : item.to_version;
    const key = old ? item.from_key : item.to_key;
    try {
      await removeUnlessLive(ctx, await ctx.storage.resolve(tenantId, version), key);
    } catch (err) {
      const failure = recordingFailure(err);
      if (!failure) throw err; // transient: the job retries, and settles again first
      ctx.log.warn({ tenantId, version, code: failure.code }, 'key job: leftover object not removed yet');
      remaining++;
      continue;
    }
    await setItemState(ctx.db, item.job_id, item.recording_id, old ? 'done' : 'abandoned');
  }
  return remaining;
}

/**
 * The reconciler's sweep (every worker, every tick): old objects whose grace has passed,
 * for every tenant. Idempotent, so workers sweeping at once do no harm.
 */
export async function sweepLeftovers(ctx: Context): Promise<void> {
  for (const tenantId of await tenantsWithLeftovers(ctx.db, ctx.config.worker.keyJobDeleteGraceMs)) {
    await settleLeftovers(ctx, tenantId).catch((err: unknown) => {
      ctx.log.warn({ tenantId, err: (err as Error).message }, 'key job leftovers: sweep deferred');
    });
  }
}
