import { Readable } from 'node:stream';
import type { Context } from '../../context.js';
import {
  type DeletionRow,
  deletedRecordings,
  getDeletion,
  heldRecordings,
  liveRecordings,
  lockDeletion,
  lockTenantForDeletion,
  recordCertificate,
  recordStorageCopy,
  releaseTenant,
  revokeAllApiKeys,
  runningKeyJob,
  setDeletionError,
  startDeletion,
} from '../../db/offboarding.js';
import { transaction } from '../../db/pool.js';
import { getTenant } from '../../db/tenants.js';
import { AppError, conflict, notFound, StorageError } from '../../errors.js';
import { settleLeftovers } from '../../jobs/key-jobs/settle.js';
import { crashPoint } from '../../jobs/crash-point.js';
import { enqueueOffboarding } from '../../jobs/offboarding/queue.js';
import { appendAudit } from '../audit.js';
import { performDelete, requestDelete } from '../recordings/delete.js';
import {
  CERTIFICATE_KEY,
  certificateContent,
  certificateDocument,
  certificateFile,
  type DeletionCertificate,
  signCertificate,
} from './certificate.js';

/**
 * Tenant deletion (operator only). The request revokes every API key and marks the
 * tenant `deleting` in one transaction, after which nothing new can arrive: ingest, legal
 * holds and new keys all check the tenant's status under its row lock. A job then deletes
 * every recording through the normal delete path (object, spool copy, pending job),
 * issues a signed certificate, copies it into the tenant's storage while that is still
 * reachable, and finally drops Custody's access to that storage.
 *
 * Every step is visible in PostgreSQL (recordings `deleted`, the certificate row's phase),
 * so a run that dies anywhere is resumed by the next (the reconciler re-enqueues it).
 * The audit chain is kept: it is the record of what happened, and the certificate pins
 * its head.
 */

export interface DeletionView {
  tenantId: string;
  status: 'deleting' | 'deleted';
  requestedAt: string;
  completedAt: string | null;
  /** Why the last run stopped (it retries), while deleting. */
  lastError: string | null;
}

const deletionView = (d: DeletionRow): DeletionView => ({
  tenantId: d.tenant_id,
  status: d.phase === 'done' ? 'deleted' : 'deleting',
  requestedAt: d.requested_at.toISOString(),
  completedAt: d.phase === 'done' ? (d.completed_at?.toISOString() ?? null) : null,
  lastError: d.phase === 'done' ? null : d.last_error,
});

/** Crash points for the resumability tests (`CUSTODY_TEST_CRASH_AT`, never in production). */
export const TENANT_DELETE_CRASH = {
  afterFirstRecording: 'tenant-delete:after-first-recording',
  afterCertificate: 'tenant-delete:after-certificate',
} as const;

/** After this long, a certificate copy that keeps failing for transient reasons is given up on. */
const COPY_GIVE_UP_MS = 60 * 60_000;
/** Recordings fetched per query; the loop runs until none is left. */
const BATCH = 100;

export async function requestTenantDeletion(
  ctx: Context,
  actor: string,
  tenantId: string,
): Promise<{ started: boolean; view: DeletionView }> {
  const result = await transaction(ctx.db, async (tx) => {
    const tenant = await lockTenantForDeletion(tx, tenantId);
    if (!tenant) throw notFound('Tenant');
    // Idempotent: a second request reports the deletion already under way (or done).
    if (tenant.status !== 'active') return { started: false, row: (await getDeletion(tx, tenantId))! };
    const held = await heldRecordings(tx, tenantId);
    if (held.length > 0) {
      throw new AppError(
        409,
        'LEGAL_HOLD',
        `${held.length} recording(s) of this tenant are on legal hold; nothing was deleted.`,
        { extra: { recordings: held.slice(0, 100) } },
      );
    }
    // A rewrap or migration would be writing new objects while we delete the old ones.
    const keyJob = await runningKeyJob(tx, tenantId);
    if (keyJob) {
      throw conflict(
        `Key job ${keyJob} is running for this tenant; cancel it or let it finish first.`,
        'KEY_JOB_RUNNING',
      );
    }
    const row = await startDeletion(tx, tenantId, actor);
    await appendAudit(tx, tenantId, {
      actor,
      action: 'tenant.delete-requested',
      target: `tenant:${tenantId}`,
      detail: {},
    });
    for (const keyId of await revokeAllApiKeys(tx, tenantId)) {
      await appendAudit(tx, tenantId, {
        actor,
        action: 'api-key.revoked',
        target: `api-key:${keyId}`,
        detail: { reason: 'tenant-deletion' },
      });
    }
    return { started: true, row };
  });
  // A repeat re-enqueues an unfinished deletion too (a no-op while its job is queued).
  if (result.row.phase !== 'done') {
    await enqueueOffboarding(ctx, { v: 1, kind: 'delete-tenant', tenantId }).catch(() =>
      ctx.log.warn({ tenantId }, 'tenant deletion not enqueued; the reconciler will'),
    );
  }
  return { started: result.started, view: deletionView(result.row) };
}

export type CertificateReply =
  | (DeletionView & { status: 'deleting' })
  | (DeletionView & {
      status: 'deleted';
      /** Compact JWS (EdDSA); verify with the published public key. */
      certificate: string;
      kid: string;
      content: DeletionCertificate;
      storageCopy: { location: string | null; error: string | null };
    });

export async function readCertificate(ctx: Context, tenantId: string): Promise<CertificateReply> {
  const d = await getDeletion(ctx.db, tenantId);
  if (!d) {
    if (!(await getTenant(ctx.db, tenantId))) throw notFound('Tenant');
    throw notFound('Deletion certificate (no deletion was requested for this tenant)');
  }
  const view = deletionView(d);
  if (view.status === 'deleting' || !d.certificate || !d.kid) return { ...view, status: 'deleting' };
  return {
    ...view,
    status: 'deleted',
    certificate: d.certificate,
    kid: d.kid,
    content: certificateContent(d.certificate),
    storageCopy: { location: d.storage_copy_location, error: d.storage_copy_error },
  };
}

/** Runs (or resumes) a tenant deletion to its end; throws to be retried. */
export async function runTenantDeletion(ctx: Context, tenantId: string, signal?: AbortSignal): Promise<void> {
  const d = await getDeletion(ctx.db, tenantId);
  if (!d || d.phase === 'done') return;
  try {
    if (d.phase === 'deleting') {
      await deleteEveryRecording(ctx, d, signal);
      // Old copies that key jobs keep for a playback grace go now too (nobody plays any more).
      const left = await settleLeftovers(ctx, tenantId, 0);
      if (left > 0)
        ctx.log.warn({ tenantId, left }, 'tenant deletion: old key-job copies the storage refused to delete');
      await issueCertificate(ctx, tenantId);
      crashPoint(ctx.config.crashAt, TENANT_DELETE_CRASH.afterCertificate);
    }
    await copyAndRelease(ctx, tenantId);
  } catch (err) {
    if (!signal?.aborted) {
      // Shown to the operator: only classified errors carry their message.
      const message = err instanceof AppError || err instanceof StorageError ? err.message : 'internal error';
      await setDeletionError(ctx.db, tenantId, message).catch(() => {});
    }
    ctx.log.warn({ tenantId, err: (err as Error).message }, 'tenant deletion stopped; it will resume');
    throw err;
  }
}

/**
 * Through the normal path: `requestDelete` (audited per recording, refuses a legal hold)
 * then `performDelete` (object, spool copy, pending job). Both are idempotent, and the
 * delete queue may be doing the same recording at the same time: harmless.
 */
async function deleteEveryRecording(ctx: Context, d: DeletionRow, signal?: AbortSignal): Promise<void> {
  for (;;) {
    const batch = await liveRecordings(ctx.db, d.tenant_id, BATCH);
    if (batch.length === 0) return;
    for (const r of batch) {
      signal?.throwIfAborted();
      if (r.status !== 'deleting') await requestDelete(ctx, d.requested_by, r.id, 'tenant-deletion');
      await performDelete(ctx, r.id);
      crashPoint(ctx.config.crashAt, TENANT_DELETE_CRASH.afterFirstRecording);
    }
  }
}

async function issueCertificate(ctx: Context, tenantId: string): Promise<void> {
  await transaction(ctx.db, async (tx) => {
    // The tenant row lock orders this after any ingest that started before `deleting`.
    await lockTenantForDeletion(tx, tenantId);
    const d = await lockDeletion(tx, tenantId);
    if (d?.phase !== 'deleting') return;
    if ((await liveRecordings(tx, tenantId, 1)).length > 0) {
      throw new Error('a recording is not deleted yet; the deletion resumes');
    }
    const recordings = await deletedRecordings(tx, tenantId);
    const entry = await appendAudit(tx, tenantId, {
      actor: 'system',
      action: 'tenant.deleted',
      target: `tenant:${tenantId}`,
      detail: { recordings: recordings.length, requestedAt: d.requested_at.toISOString() },
    });
    const doc = certificateDocument({
      tenantId,
      requestedAt: d.requested_at,
      completedAt: entry.at,
      recordings,
      auditHead: { seq: entry.seq, hash: entry.hash },
    });
    const { jws, kid } = await signCertificate(ctx.config.secretsKey!, doc);
    await recordCertificate(tx, tenantId, { certificate: jws, kid, completedAt: new Date(entry.at) });
  });
}

/** Tenant-side failures (bucket gone, access denied): the storage is not reachable any more. */
const unreachable = (err: unknown) => err instanceof StorageError && err.kind !== 'transient';

/**
 * Copies the certificate into the tenant's active storage (best effort: a bucket the
 * tenant already removed cannot receive it, and the API still serves it), then erases
 * the tenant's sealed storage credentials and marks the tenant `deleted`.
 */
async function copyAndRelease(ctx: Context, tenantId: string): Promise<void> {
  const d = await getDeletion(ctx.db, tenantId);
  if (d?.phase !== 'issued' || !d.certificate || !d.kid) return;
  const version = (await getTenant(ctx.db, tenantId))?.active_storage_version ?? null;
  let copy: { location: string | null; error: string | null } = {
    location: null,
    error: 'the tenant had no storage registered',
  };
  if (version !== null) {
    try {
      const storage = await ctx.storage.resolve(tenantId, version);
      const body = certificateFile(d.certificate, d.kid);
      await storage.target.put(CERTIFICATE_KEY, Readable.from([body]), {
        contentLength: body.length,
        contentType: 'application/json',
      });
      copy = { location: storage.target.locationOf(CERTIFICATE_KEY), error: null };
    } catch (err) {
      const waited = Date.now() - (d.completed_at?.getTime() ?? Date.now());
      if (!unreachable(err) && waited < COPY_GIVE_UP_MS) throw err;
      copy = {
        location: null,
        error:
          err instanceof StorageError ? `${err.code}: ${err.message}` : 'the storage could not be reached',
      };
    }
  }
  await transaction(ctx.db, async (tx) => {
    const now = await lockDeletion(tx, tenantId);
    if (now?.phase !== 'issued') return;
    await recordStorageCopy(tx, tenantId, copy);
    await releaseTenant(tx, tenantId);
    await appendAudit(tx, tenantId, {
      actor: 'system',
      action: 'tenant.storage-released',
      target: `tenant:${tenantId}`,
      detail: { certificateCopy: copy.location, ...(copy.error ? { certificateCopyError: copy.error } : {}) },
    });
  });
  ctx.storage.forget(tenantId);
}
