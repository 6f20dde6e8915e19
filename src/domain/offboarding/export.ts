import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Context } from '../../context.js';
import {
  auditHead,
  type ExportRow,
  failExport,
  finishExport,
  getExport,
  insertExport,
  lockTenantStatus,
  manifestPage,
  startExportAttempt,
} from '../../db/offboarding.js';
import { type DbClient, transaction } from '../../db/pool.js';
import type { RecordingRow } from '../../db/recordings.js';
import { getTenant } from '../../db/tenants.js';
import { AppError, conflict, notFound, StorageError } from '../../errors.js';
import type { StorageTarget } from '../../storage/storage-target.js';
import { appendAudit } from '../audit.js';
import { enqueueOffboarding } from '../../jobs/offboarding/queue.js';

/**
 * Tenant export: a manifest of every recording and its object, written as JSON Lines
 * into the tenant's OWN active storage at `_custody/exports/<exportId>/manifest.jsonl`.
 *
 * The manifest is plaintext on purpose (like the audit checkpoints): the tenant must be
 * able to read it with nothing but their own bucket access. It holds metadata only — no
 * audio, no keys — and nothing the tenant's own rows do not already hold: `callId`,
 * `agentId` are the tenant's own identifiers about its own calls, written into the
 * tenant's own bucket, where the recordings themselves already are.
 */
export const exportKey = (exportId: string) => `_custody/exports/${exportId}/manifest.jsonl`;
export const EXPORT_ID = /^exp_[A-Za-z0-9_-]{16}$/;
const newExportId = () => `exp_${randomBytes(12).toString('base64url')}`;

/** Transient failures retry (with the workers' backoff) this many times before the export fails. */
const MAX_ATTEMPTS = 5;
const PAGE = 500;

export interface ExportView {
  id: string;
  tenantId: string;
  status: 'running' | 'done' | 'failed';
  /** Recording lines in the manifest (once done). */
  recordings: number | null;
  /** Where the manifest is (once done). */
  location: string | null;
  objectKey: string;
  storageVersion: number;
  manifestSha256: string | null;
  createdAt: string;
  completedAt: string | null;
  error?: { code: string; message: string };
}

export const exportView = (e: ExportRow): ExportView => ({
  id: e.id,
  tenantId: e.tenant_id,
  status: e.status,
  recordings: e.recordings,
  location: e.location,
  objectKey: e.object_key,
  storageVersion: e.storage_version,
  manifestSha256: e.manifest_sha256,
  createdAt: e.created_at.toISOString(),
  completedAt: e.completed_at?.toISOString() ?? null,
  ...(e.error_code ? { error: { code: e.error_code, message: e.error_message ?? '' } } : {}),
});

export async function requestExport(ctx: Context, actor: string, tenantId: string): Promise<ExportView> {
  const row = await transaction(ctx.db, async (tx) => {
    const status = await lockTenantStatus(tx, tenantId);
    if (!status) throw notFound('Tenant');
    if (status !== 'active') throw conflict('The tenant is being deleted or is deleted.', 'TENANT_DELETED');
    const version = (await getTenant(tx, tenantId))!.active_storage_version;
    if (version === null) {
      throw conflict(
        'The tenant has no storage registered: there is nowhere to write the export.',
        'NO_STORAGE',
      );
    }
    const id = newExportId();
    const inserted = await insertExport(tx, {
      id,
      tenantId,
      storageVersion: version,
      objectKey: exportKey(id),
      createdBy: actor,
    });
    await appendAudit(tx, tenantId, {
      actor,
      action: 'tenant.export-requested',
      target: `export:${id}`,
      detail: { storageVersion: version, objectKey: inserted.object_key },
    });
    return inserted;
  });
  await enqueueOffboarding(ctx, { v: 1, kind: 'export', tenantId, exportId: row.id }).catch(() =>
    ctx.log.warn({ exportId: row.id }, 'export not enqueued; the reconciler will'),
  );
  return exportView(row);
}

export async function readExport(ctx: Context, tenantId: string, exportId: string): Promise<ExportView> {
  const row = EXPORT_ID.test(exportId) ? await getExport(ctx.db, tenantId, exportId) : undefined;
  if (!row) throw notFound('Export');
  return exportView(row);
}

function manifestLine(r: RecordingRow): Record<string, unknown> {
  return {
    type: 'recording',
    id: r.id,
    callId: r.call_id,
    agentId: r.agent_id,
    direction: r.direction,
    startedAt: r.started_at?.toISOString() ?? null,
    status: r.status,
    contentType: r.content_type,
    // Plaintext size and SHA-256 (what was received); `objectSize` is the stored ciphertext.
    size: r.size,
    sha256: r.sha256,
    storageVersion: r.storage_version,
    provider: r.provider,
    objectKey: r.object_key,
    location: r.location,
    objectVersion: r.object_version,
    objectSize: r.object_size,
    keyId: r.key_id,
    createdAt: r.created_at.toISOString(),
    storedAt: r.stored_at?.toISOString() ?? null,
    expiresAt: r.expires_at.toISOString(),
    deletedAt: r.deleted_at?.toISOString() ?? null,
    legalHold: r.legal_hold,
  };
}

interface Written {
  recordings: number;
  sha256: string;
  location: string;
}

/**
 * Streams the manifest into the target from one REPEATABLE READ snapshot: every line
 * and the summary's audit head describe the same instant, however long the upload takes.
 */
async function writeManifest(ctx: Context, row: ExportRow, target: StorageTarget): Promise<Written> {
  const client: DbClient = await ctx.db.connect();
  const hash = createHash('sha256');
  let recordings = 0;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const head = await auditHead(client, row.tenant_id);
    async function* lines(): AsyncGenerator<Buffer> {
      const byStatus: Record<string, number> = {};
      let storedBytes = 0;
      let after: { createdAt: Date; id: string } | undefined;
      for (;;) {
        const page = await manifestPage(client, row.tenant_id, after, PAGE);
        for (const r of page) {
          recordings += 1;
          byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
          if (r.status === 'stored') storedBytes += r.object_size ?? 0;
          const line = Buffer.from(`${JSON.stringify(manifestLine(r))}\n`, 'utf8');
          hash.update(line);
          yield line;
        }
        if (page.length < PAGE) break;
        const last = page[page.length - 1]!;
        after = { createdAt: last.created_at, id: last.id };
      }
      const summary = {
        type: 'summary',
        exportId: row.id,
        tenantId: row.tenant_id,
        generatedAt: new Date().toISOString(),
        recordings,
        byStatus,
        storedBytes,
        auditHead: head,
      };
      const line = Buffer.from(`${JSON.stringify(summary)}\n`, 'utf8');
      hash.update(line);
      yield line;
    }
    await target.put(row.object_key, Readable.from(lines()), { contentType: 'application/x-ndjson' });
    return { recordings, sha256: hash.digest('hex'), location: target.locationOf(row.object_key) };
  } finally {
    await client.query('ROLLBACK').catch(() => {});
    client.release();
  }
}

/** Tenant-side problems (bucket gone, access denied) end the export at once: a retry would not help. */
const tenantSide = (err: unknown) =>
  err instanceof StorageError && (err.kind === 'access-denied' || err.kind === 'container-missing');

/**
 * Runs (or re-runs, after a crash) one export. A re-run writes the whole manifest again
 * under the same key; `put` replaces it atomically, so no half manifest is ever visible.
 */
export async function runExport(ctx: Context, exportId: string): Promise<void> {
  const row = await startExportAttempt(ctx.db, exportId);
  if (!row) return;
  try {
    // Once a tenant deletion has begun, Custody writes nothing more into its storage.
    if ((await getTenant(ctx.db, row.tenant_id))?.status !== 'active') {
      throw conflict('The tenant is being deleted or is deleted.', 'TENANT_DELETED');
    }
    const storage = await ctx.storage.resolve(row.tenant_id, row.storage_version);
    const written = await writeManifest(ctx, row, storage.target);
    await transaction(ctx.db, async (tx) => {
      const finished = await finishExport(tx, row.id, {
        location: written.location,
        recordings: written.recordings,
        manifestSha256: written.sha256,
      });
      if (!finished) return;
      await appendAudit(tx, row.tenant_id, {
        actor: 'system',
        action: 'tenant.exported',
        target: `export:${row.id}`,
        detail: {
          recordings: written.recordings,
          objectKey: row.object_key,
          location: written.location,
          manifestSha256: written.sha256,
        },
      });
    });
  } catch (err) {
    const final = tenantSide(err) || err instanceof AppError || row.attempts >= MAX_ATTEMPTS;
    // Storage errors are classified and safe to show the tenant; anything else is not echoed.
    const e =
      err instanceof StorageError || err instanceof AppError
        ? { code: err.code, message: err.message }
        : { code: 'EXPORT_ERROR', message: 'The export could not be written; see the service logs.' };
    ctx.log.warn({ exportId, attempt: row.attempts, err: (err as Error).message }, 'export attempt failed');
    if (!final) {
      await failExport(ctx.db, row.id, { ...e, final: false });
      throw err;
    }
    await transaction(ctx.db, async (tx) => {
      if (!(await failExport(tx, row.id, { ...e, final: true }))) return;
      await appendAudit(tx, row.tenant_id, {
        actor: 'system',
        action: 'tenant.export-failed',
        target: `export:${row.id}`,
        detail: { error: e.code },
      });
    });
  }
}
