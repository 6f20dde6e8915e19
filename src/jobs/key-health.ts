import type { Context } from '../context.js';
import {
  blockedRecordings,
  claimDueTenants,
  lockKeyHealth,
  releaseWithoutVerdict,
  saveVerdict,
  type StoredKeyState,
  unhealthyKey,
} from '../db/key-health.js';
import { transaction } from '../db/pool.js';
import { appendAudit } from '../domain/audit.js';
import { retryBlocked } from '../domain/recordings/holds-and-retries.js';
import { AppError } from '../errors.js';
import { keyHealthOf } from '../keys/health.js';
import type { KeyHealth } from '../keys/key-provider.js';
import { sampleKeyMetrics } from '../observability/key-metrics.js';
import { block } from './outcomes.js';

/** One tenant's check may take this long (DescribeKey/get-key plus a test wrap, with SDK retries). */
export const KEY_HEALTH_TIMEOUT_MS = 30_000;
/** A claim outlives the check it covers, so no other worker takes the tenant meanwhile. */
const CLAIM_MS = KEY_HEALTH_TIMEOUT_MS + 30_000;
/** Tenants checked at once by one worker (and claimed per round, so each claim starts at once). */
const CONCURRENCY = 4;
const REQUEUE_PAGE = 500;

const unhealthy = (s: StoredKeyState | null | undefined): boolean => s != null && s !== 'ok';

/**
 * One round: claims every tenant whose key is due (one check per interval across all
 * workers), checks it, records the verdict, then refreshes this process's key gauges.
 */
export async function checkKeyHealth(ctx: Context): Promise<{ checked: number }> {
  // Fixed for the round: a tenant checked in this round is not due again within it.
  const dueBefore = new Date(Date.now() - ctx.config.worker.keyHealthIntervalMs * 0.9);
  let checked = 0;
  for (;;) {
    const due = await claimDueTenants(ctx.db, { dueBefore, claimMs: CLAIM_MS, limit: CONCURRENCY });
    if (due.length === 0) break;
    await Promise.all(due.map((t) => checkTenant(ctx, t.tenant_id, t.storage_version)));
    checked += due.length;
  }
  await sampleKeyMetrics(ctx);
  return { checked };
}

async function checkTenant(ctx: Context, tenantId: string, version: number): Promise<void> {
  let health: KeyHealth;
  let keyId: string | undefined;
  try {
    const storage = await ctx.storage.resolve(tenantId, version);
    health = await keyHealthOf(storage.keys, KEY_HEALTH_TIMEOUT_MS);
    keyId = storage.keys.keyId;
  } catch (err) {
    // The version could not be built (provider switched off, sealed secret unreadable):
    // nothing learnt about the key itself.
    health = { state: 'unreachable', code: (err as Error).name };
  }
  try {
    const recovered = await recordVerdict(ctx, tenantId, version, keyId, health);
    if (recovered) await requeueBlocked(ctx, tenantId);
  } catch (err) {
    ctx.log.warn({ tenantId, err: (err as Error).message }, 'key health verdict not recorded');
  }
}

/**
 * Writes the verdict under the row lock and audits a change (not every check): into an
 * unhealthy state (or from one problem to another) → `key.pending_deletion` or
 * `key.unavailable`; back to ok → `key.healthy`. Returns true on recovery.
 */
async function recordVerdict(
  ctx: Context,
  tenantId: string,
  version: number,
  keyId: string | undefined,
  health: KeyHealth,
): Promise<boolean> {
  if (health.state === 'unreachable') {
    ctx.log.warn(
      { tenantId, version, code: health.code },
      'key health unknown: the key service was not reached',
    );
    await releaseWithoutVerdict(ctx.db, tenantId);
    return false;
  }
  const state = health.state;
  const code = health.code ?? null;
  const deletionDate = health.deletionDate ? new Date(health.deletionDate) : null;
  return transaction(ctx.db, async (tx) => {
    const prev = await lockKeyHealth(tx, tenantId);
    const wasUnhealthy = unhealthy(prev?.state);
    const isUnhealthy = unhealthy(state);
    const changed =
      !prev ||
      prev.state !== state ||
      prev.code !== code ||
      prev.storage_version !== version ||
      prev.deletion_date?.getTime() !== deletionDate?.getTime();
    await saveVerdict(tx, tenantId, {
      storageVersion: version,
      state,
      code,
      deletionDate,
      unhealthySince: isUnhealthy
        ? wasUnhealthy
          ? (prev?.unhealthy_since ?? new Date())
          : new Date()
        : null,
    });
    const detail: Record<string, unknown> = { version, keyId: keyId ?? null, state };
    if (isUnhealthy && changed) {
      detail.code = code;
      if (health.deletionDate) detail.deletionDate = health.deletionDate;
      await appendAudit(tx, tenantId, {
        actor: 'system',
        action: state === 'pending-deletion' ? 'key.pending_deletion' : 'key.unavailable',
        target: `tenant:${tenantId}`,
        detail,
      });
      ctx.log.warn({ tenantId, version, state, code }, 'tenant key unusable: its transfers are paused');
      return false;
    }
    if (!isUnhealthy && wasUnhealthy) {
      detail.previousState = prev?.state;
      await appendAudit(tx, tenantId, {
        actor: 'system',
        action: 'key.healthy',
        target: `tenant:${tenantId}`,
        detail,
      });
      ctx.log.info({ tenantId, version }, 'tenant key healthy again: its transfers resume');
      return true;
    }
    return false;
  });
}

/**
 * The key is healthy again: every blocked recording of the tenant goes back to the queue
 * now, through the same path as `POST /v1/recordings/{id}/retry` (audited per recording),
 * instead of waiting for its slow retry.
 */
async function requeueBlocked(ctx: Context, tenantId: string): Promise<void> {
  let after: { createdAt: Date; id: string } | undefined;
  let requeued = 0;
  for (;;) {
    const page = await blockedRecordings(ctx.db, tenantId, after, REQUEUE_PAGE);
    for (const r of page) {
      try {
        await retryBlocked(ctx, 'system', r.id);
        requeued += 1;
      } catch (err) {
        // NOT_BLOCKED: a transfer or deletion got to it first. Anything else waits for its slow retry.
        if (!(err instanceof AppError)) throw err;
      }
    }
    const last = page.at(-1);
    if (!last || page.length < REQUEUE_PAGE) break;
    after = { createdAt: last.created_at, id: last.id };
  }
  if (requeued > 0) ctx.log.info({ tenantId, requeued }, 'blocked recordings re-queued after key recovery');
}

const WHAT: Record<StoredKeyState, string> = {
  ok: 'healthy',
  disabled: 'disabled',
  'pending-deletion': 'pending deletion',
  expired: 'expired',
  'access-denied': 'no longer usable by Custody (access denied)',
  'not-found': 'not found',
};

/**
 * Transfers of a tenant whose key is known to be unusable block at once, with the key's
 * code, without a key call per recording. Returns true when the recording was blocked.
 * One indexed read; a stale, absent or healthy verdict means transfer as usual (the key
 * call then decides, as without this check).
 */
export async function pausedByKeyHealth(
  ctx: Context,
  r: { id: string; tenant_id: string },
  version: number,
): Promise<boolean> {
  // Fresh = a check attempted within three intervals (plus one claim): workers are checking.
  const freshAfter = () => new Date(Date.now() - 3 * ctx.config.worker.keyHealthIntervalMs - CLAIM_MS);
  const verdict = await unhealthyKey(ctx.db, r.tenant_id, version, freshAfter());
  if (!verdict) return false;
  const when = verdict.deletion_date
    ? ` (deletion scheduled for ${verdict.deletion_date.toISOString()})`
    : '';
  await block(ctx, r, {
    code: verdict.code ?? verdict.state,
    message: `The tenant's key is ${WHAT[verdict.state]}${when}. Transfers are paused and resume on their own once the key is healthy again.`,
  });
  // The key may have recovered between the read and the block, after the recovery re-queued
  // the tenant's blocked recordings: then this one goes on now instead of waiting.
  return (await unhealthyKey(ctx.db, r.tenant_id, version, freshAfter())) !== undefined;
}

/** Runs `checkKeyHealth` every `CUSTODY_KEY_HEALTH_INTERVAL_SECONDS` in this worker process. */
export function startKeyHealthChecks(ctx: Context): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running) return; // a slow round is not stacked on
    running = checkKeyHealth(ctx)
      .then(() => undefined)
      .catch((err: Error) => ctx.log.warn({ err: err.message }, 'key health round deferred'))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, ctx.config.worker.keyHealthIntervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
