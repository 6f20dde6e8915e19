import type { Queryable } from './pool.js';
import type { RecordingRow } from './recordings.js';

export type TenantStatus = 'active' | 'deleting' | 'deleted';

/**
 * The tenant's status, its row share-locked for the rest of the transaction. Writers that
 * must not race a tenant deletion (ingest, legal holds, new API keys) take this lock, and
 * the deletion request takes the row `FOR UPDATE`: whichever commits first, the other
 * sees it.
 */
export async function lockTenantStatus(db: Queryable, tenantId: string): Promise<TenantStatus | undefined> {
  const r = await db.query<{ status: TenantStatus }>('SELECT status FROM tenants WHERE id = $1 FOR SHARE', [
    tenantId,
  ]);
  return r.rows[0]?.status;
}

// ---- exports ----

export type ExportStatus = 'running' | 'done' | 'failed';

export interface ExportRow {
  id: string;
  tenant_id: string;
  status: ExportStatus;
  storage_version: number;
  object_key: string;
  location: string | null;
  recordings: number | null;
  manifest_sha256: string | null;
  attempts: number;
  error_code: string | null;
  error_message: string | null;
  created_by: string;
  created_at: Date;
  completed_at: Date | null;
}

export async function insertExport(
  db: Queryable,
  e: { id: string; tenantId: string; storageVersion: number; objectKey: string; createdBy: string },
): Promise<ExportRow> {
  const r = await db.query<ExportRow>(
    `INSERT INTO tenant_exports (id, tenant_id, status, storage_version, object_key, created_by)
     VALUES ($1, $2, 'running', $3, $4, $5) RETURNING *`,
    [e.id, e.tenantId, e.storageVersion, e.objectKey, e.createdBy],
  );
  return r.rows[0]!;
}

export async function getExport(db: Queryable, tenantId: string, id: string): Promise<ExportRow | undefined> {
  const r = await db.query<ExportRow>('SELECT * FROM tenant_exports WHERE tenant_id = $1 AND id = $2', [
    tenantId,
    id,
  ]);
  return r.rows[0];
}

/** Counts an attempt before it starts, so a crash-looping export still ends. */
export async function startExportAttempt(db: Queryable, id: string): Promise<ExportRow | undefined> {
  const r = await db.query<ExportRow>(
    `UPDATE tenant_exports SET attempts = attempts + 1 WHERE id = $1 AND status = 'running' RETURNING *`,
    [id],
  );
  return r.rows[0];
}

export async function finishExport(
  db: Queryable,
  id: string,
  done: { location: string; recordings: number; manifestSha256: string },
): Promise<boolean> {
  const r = await db.query(
    `UPDATE tenant_exports SET status = 'done', location = $2, recordings = $3, manifest_sha256 = $4,
       error_code = NULL, error_message = NULL, completed_at = now()
     WHERE id = $1 AND status = 'running'`,
    [id, done.location, done.recordings, done.manifestSha256],
  );
  return r.rowCount === 1;
}

export async function failExport(
  db: Queryable,
  id: string,
  e: { code: string; message: string; final: boolean },
): Promise<boolean> {
  const r = await db.query(
    `UPDATE tenant_exports SET error_code = $2, error_message = $3,
       status = CASE WHEN $4 THEN 'failed' ELSE status END,
       completed_at = CASE WHEN $4 THEN now() ELSE completed_at END
     WHERE id = $1 AND status = 'running'`,
    [id, e.code, e.message, e.final],
  );
  return r.rowCount === 1;
}

export async function runningExports(db: Queryable): Promise<{ id: string; tenant_id: string }[]> {
  const r = await db.query<{ id: string; tenant_id: string }>(
    `SELECT id, tenant_id FROM tenant_exports WHERE status = 'running' ORDER BY created_at LIMIT 1000`,
  );
  return r.rows;
}

/** One page of a tenant's recordings for the manifest, in (created_at, id) order. */
export async function manifestPage(
  db: Queryable,
  tenantId: string,
  after: { createdAt: Date; id: string } | undefined,
  limit: number,
): Promise<RecordingRow[]> {
  const r = await db.query<RecordingRow>(
    `SELECT r.*, sv.provider FROM recordings r
       LEFT JOIN storage_versions sv ON sv.tenant_id = r.tenant_id AND sv.version = r.storage_version
      WHERE r.tenant_id = $1 AND ($2::timestamptz IS NULL OR (r.created_at, r.id) > ($2, $3))
      ORDER BY r.created_at, r.id LIMIT $4`,
    [tenantId, after?.createdAt ?? null, after?.id ?? null, limit],
  );
  return r.rows;
}

export async function auditHead(db: Queryable, tenantId: string): Promise<{ seq: number; hash: string }> {
  const r = await db.query<{ seq: number; hash: string }>(
    'SELECT seq, hash FROM audit_heads WHERE tenant_id = $1',
    [tenantId],
  );
  return r.rows[0] ?? { seq: 0, hash: '0'.repeat(64) };
}

// ---- tenant deletion ----

export type DeletionPhase = 'deleting' | 'issued' | 'done';

export interface DeletionRow {
  tenant_id: string;
  phase: DeletionPhase;
  requested_at: Date;
  requested_by: string;
  completed_at: Date | null;
  certificate: string | null;
  kid: string | null;
  storage_copy_location: string | null;
  storage_copy_error: string | null;
  last_error: string | null;
  updated_at: Date;
}

export async function getDeletion(db: Queryable, tenantId: string): Promise<DeletionRow | undefined> {
  const r = await db.query<DeletionRow>('SELECT * FROM deletion_certificates WHERE tenant_id = $1', [
    tenantId,
  ]);
  return r.rows[0];
}

export async function lockDeletion(db: Queryable, tenantId: string): Promise<DeletionRow | undefined> {
  const r = await db.query<DeletionRow>(
    'SELECT * FROM deletion_certificates WHERE tenant_id = $1 FOR UPDATE',
    [tenantId],
  );
  return r.rows[0];
}

/** The tenant row locked for a status change. */
export async function lockTenantForDeletion(
  db: Queryable,
  tenantId: string,
): Promise<{ status: TenantStatus; active_storage_version: number | null } | undefined> {
  const r = await db.query<{ status: TenantStatus; active_storage_version: number | null }>(
    'SELECT status, active_storage_version FROM tenants WHERE id = $1 FOR UPDATE',
    [tenantId],
  );
  return r.rows[0];
}

/**
 * Recordings of the tenant on legal hold that are not already going away. The caller
 * holds the tenant row `FOR UPDATE`, and setting a hold takes it `FOR SHARE` (and is
 * refused once the tenant is `deleting`): a hold set concurrently is either seen here or
 * refused afterwards, never missed.
 */
export async function heldRecordings(db: Queryable, tenantId: string): Promise<string[]> {
  const r = await db.query<{ id: string }>(
    `SELECT id FROM recordings WHERE tenant_id = $1 AND legal_hold AND status NOT IN ('deleting', 'deleted')
      ORDER BY id`,
    [tenantId],
  );
  return r.rows.map((x) => x.id);
}

export async function runningKeyJob(db: Queryable, tenantId: string): Promise<string | undefined> {
  const r = await db.query<{ id: string }>(
    `SELECT id FROM key_jobs WHERE tenant_id = $1 AND status = 'running' LIMIT 1`,
    [tenantId],
  );
  return r.rows[0]?.id;
}

export async function startDeletion(
  db: Queryable,
  tenantId: string,
  requestedBy: string,
): Promise<DeletionRow> {
  await db.query(`UPDATE tenants SET status = 'deleting', updated_at = now() WHERE id = $1`, [tenantId]);
  const r = await db.query<DeletionRow>(
    `INSERT INTO deletion_certificates (tenant_id, phase, requested_at, requested_by)
     VALUES ($1, 'deleting', now(), $2) RETURNING *`,
    [tenantId, requestedBy],
  );
  return r.rows[0]!;
}

/** Revokes every key of the tenant still usable; returns their ids. */
export async function revokeAllApiKeys(db: Queryable, tenantId: string): Promise<string[]> {
  const r = await db.query<{ id: string }>(
    `UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1 AND revoked_at IS NULL RETURNING id`,
    [tenantId],
  );
  return r.rows.map((x) => x.id).sort();
}

/** Recordings of the tenant not yet `deleted` (a batch; the caller loops until none are left). */
export async function liveRecordings(
  db: Queryable,
  tenantId: string,
  limit: number,
): Promise<{ id: string; status: string }[]> {
  const r = await db.query<{ id: string; status: string }>(
    `SELECT id, status FROM recordings WHERE tenant_id = $1 AND status <> 'deleted' ORDER BY id LIMIT $2`,
    [tenantId, limit],
  );
  return r.rows;
}

export interface DeletedRecording {
  id: string;
  object_key: string | null;
  location: string | null;
  storage_version: number | null;
  deleted_at: Date;
}

/** Every recording the tenant ever had, all `deleted` by now, in id order. */
export async function deletedRecordings(db: Queryable, tenantId: string): Promise<DeletedRecording[]> {
  const r = await db.query<DeletedRecording>(
    `SELECT id, object_key, location, storage_version, deleted_at FROM recordings
      WHERE tenant_id = $1 AND status = 'deleted' ORDER BY id`,
    [tenantId],
  );
  return r.rows;
}

export async function setDeletionError(
  db: Queryable,
  tenantId: string,
  message: string | null,
): Promise<void> {
  await db.query(
    'UPDATE deletion_certificates SET last_error = $2, updated_at = now() WHERE tenant_id = $1',
    [tenantId, message],
  );
}

export async function recordCertificate(
  db: Queryable,
  tenantId: string,
  c: { certificate: string; kid: string; completedAt: Date },
): Promise<void> {
  await db.query(
    `UPDATE deletion_certificates SET phase = 'issued', certificate = $2, kid = $3, completed_at = $4,
       last_error = NULL, updated_at = now()
     WHERE tenant_id = $1 AND phase = 'deleting'`,
    [tenantId, c.certificate, c.kid, c.completedAt],
  );
}

export async function recordStorageCopy(
  db: Queryable,
  tenantId: string,
  copy: { location: string | null; error: string | null },
): Promise<void> {
  await db.query(
    `UPDATE deletion_certificates SET storage_copy_location = $2, storage_copy_error = $3, updated_at = now()
      WHERE tenant_id = $1`,
    [tenantId, copy.location, copy.error],
  );
}

/**
 * The end of a deletion: the tenant's sealed storage credentials are erased and no
 * version is active any more (no checkpoint, health check or export reaches its storage),
 * and the tenant is `deleted`.
 */
export async function releaseTenant(db: Queryable, tenantId: string): Promise<void> {
  await db.query('UPDATE storage_versions SET secret_ciphertext = NULL WHERE tenant_id = $1', [tenantId]);
  await db.query(
    `UPDATE tenants SET status = 'deleted', active_storage_version = NULL, updated_at = now() WHERE id = $1`,
    [tenantId],
  );
  await db.query(
    `UPDATE deletion_certificates SET phase = 'done', last_error = NULL, updated_at = now() WHERE tenant_id = $1`,
    [tenantId],
  );
}

export async function unfinishedDeletions(db: Queryable): Promise<string[]> {
  const r = await db.query<{ tenant_id: string }>(
    `SELECT tenant_id FROM deletion_certificates WHERE phase <> 'done' ORDER BY requested_at LIMIT 1000`,
  );
  return r.rows.map((x) => x.tenant_id);
}
