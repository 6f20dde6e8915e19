import type { Context } from '../context.js';
import { transaction } from '../db/pool.js';
import { markBlocked, markFailed } from '../db/recordings.js';
import { appendAudit } from '../domain/audit.js';
import { KeyProviderError, StorageError } from '../errors.js';

/** Errors only the tenant can fix: the recording waits, blocked, with its spooled copy kept. */
export function tenantFixable(err: unknown): { code: string; message: string } | undefined {
  if (err instanceof StorageError && (err.kind === 'access-denied' || err.kind === 'container-missing')) {
    return { code: err.code, message: err.message };
  }
  if (err instanceof KeyProviderError && err.kind === 'tenant')
    return { code: err.code, message: err.message };
  return undefined;
}

/** Marks a recording blocked; audits only a change of reason, not every slow retry. */
export async function block(
  ctx: Context,
  r: { id: string; tenant_id: string },
  e: { code: string; message: string },
): Promise<void> {
  await transaction(ctx.db, async (tx) => {
    const changed = await markBlocked(tx, r.id, {
      ...e,
      retryAt: new Date(Date.now() + ctx.config.worker.blockedRetryMs),
    });
    if (changed && changed.previousCode !== e.code) {
      await appendAudit(tx, r.tenant_id, {
        actor: 'system',
        action: 'recording.blocked',
        target: `recording:${r.id}`,
        detail: { code: e.code, message: e.message },
      });
      ctx.metrics.blocked.inc({ code: e.code });
    }
  });
}

/** `failed` is only for what can never be delivered (the spooled copy lost or corrupt). */
export async function fail(
  ctx: Context,
  r: { id: string; tenant_id: string },
  e: { code: string; message: string },
): Promise<void> {
  await transaction(ctx.db, async (tx) => {
    if (await markFailed(tx, r.id, e)) {
      await appendAudit(tx, r.tenant_id, {
        actor: 'system',
        action: 'recording.failed',
        target: `recording:${r.id}`,
        detail: e,
      });
      ctx.metrics.failed.inc({ code: e.code });
    }
  });
}
