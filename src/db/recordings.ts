import type { Queryable } from './pool.js';

export type RecordingStatus =
  | 'queued'
  | 'transferring'
  | 'stored'
  | 'blocked'
  | 'failed'
  | 'deleting'
  | 'deleted';

/** States in which a spooled copy may exist and a transfer job may be pending. */
export const PENDING_STATUSES: RecordingStatus[] = ['queued', 'transferring', 'blocked'];

export interface RecordingRow {
  id: string;
  tenant_id: string;
  status: RecordingStatus;
  call_id: string;
  agent_id: string | null;
  started_at: Date | null;
  direction: 'inbound' | 'outbound' | null;
  content_type: string;
  size: number;
  sha256: string;
  created_at: Date;
  stored_at: Date | null;
  expires_at: Date;
  legal_hold: boolean;
  legal_hold_reason: string | null;
  storage_version: number | null;
  object_key: string | null;
  location: string | null;
  object_version: string | null;
  object_size: number | null;
  key_id: string | null;
  spool_file: string | null;
  spool_bytes: number | null;
  error_code: string | null;
  error_message: string | null;
  attempts: number;
  next_attempt_at: Date | null;
  deleted_at: Date | null;
  /** From the storage version the recording went to (joined). */
  provider: string | null;
}

const SELECT = `SELECT r.*, sv.provider FROM recordings r
  LEFT JOIN storage_versions sv ON sv.tenant_id = r.tenant_id AND sv.version = r.storage_version`;

export interface NewRecording {
  id: string;
  tenantId: string;
  callId: string;
  agentId: string | null;
  startedAt: Date | null;
  direction: string | null;
  contentType: string;
  size: number;
  sha256: string;
  createdAt: Date;
  expiresAt: Date;
  spoolFile: string;
  spoolBytes: number;
}

export async function insertRecording(db: Queryable, r: NewRecording): Promise<RecordingRow> {
  const inserted = await db.query<RecordingRow>(
    `INSERT INTO recordings (id, tenant_id, status, call_id, agent_id, started_at, direction, content_type, size, sha256,
       created_at, expires_at, spool_file, spool_bytes)
     VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING *`,
    [
      r.id,
      r.tenantId,
      r.callId,
      r.agentId,
      r.startedAt,
      r.direction,
      r.contentType,
      r.size,
      r.sha256,
      r.createdAt,
      r.expiresAt,
      r.spoolFile,
      r.spoolBytes,
    ],
  );
  // A new recording has no storage version yet, so no provider to join.
  return { ...inserted.rows[0]!, provider: null };
}

export async function getRecording(db: Queryable, id: string): Promise<RecordingRow | undefined> {
  return (await db.query<RecordingRow>(`${SELECT} WHERE r.id = $1`, [id])).rows[0];
}

/** Locks the row for the rest of the transaction. */
export async function lockRecording(db: Queryable, id: string): Promise<RecordingRow | undefined> {
  const r = await db.query<RecordingRow>(`${SELECT} WHERE r.id = $1 FOR UPDATE OF r`, [id]);
  return r.rows[0];
}

export interface ListQuery {
  tenantId: string;
  callId?: string;
  status?: RecordingStatus;
  limit: number;
  /** Keyset cursor: the (created_at, id) of the last item of the previous page. */
  after?: { createdAt: Date; id: string };
}

export async function listRecordings(db: Queryable, q: ListQuery): Promise<RecordingRow[]> {
  const r = await db.query<RecordingRow>(
    `${SELECT} WHERE r.tenant_id = $1
       AND ($2::text IS NULL OR r.call_id = $2)
       AND ($3::text IS NULL OR r.status = $3)
       AND ($4::timestamptz IS NULL OR (r.created_at, r.id) < ($4, $5))
     ORDER BY r.created_at DESC, r.id DESC LIMIT $6`,
    [
      q.tenantId,
      q.callId ?? null,
      q.status ?? null,
      q.after?.createdAt ?? null,
      q.after?.id ?? null,
      q.limit,
    ],
  );
  return r.rows;
}

/** What ingest needs about an active tenant, in one round trip: its retention and its spool usage. */
export async function tenantForIngest(
  db: Queryable,
  tenantId: string,
): Promise<{ retention: string; spool_usage: number } | undefined> {
  const r = await db.query<{ retention: string; spool_usage: string }>(
    `SELECT t.retention,
            (SELECT COALESCE(SUM(spool_bytes), 0) FROM recordings
              WHERE tenant_id = t.id AND spool_bytes IS NOT NULL)::text AS spool_usage
       FROM tenants t WHERE t.id = $1 AND t.status = 'active'`,
    [tenantId],
  );
  const row = r.rows[0];
  return row ? { retention: row.retention, spool_usage: Number(row.spool_usage) } : undefined;
}

/**
 * A transfer claims the row. Only pending rows can be claimed, so a duplicate job for
 * a stored or deleting recording does nothing.
 */
export async function claimForTransfer(
  db: Queryable,
  id: string,
  target: { storageVersion: number; objectKey: string },
): Promise<RecordingRow | undefined> {
  const r = await db.query<RecordingRow>(
    `WITH claimed AS (
       UPDATE recordings SET status = 'transferring', storage_version = $2, object_key = $3,
         attempts = attempts + 1, updated_at = now()
       WHERE id = $1 AND status IN ('queued', 'transferring', 'blocked') RETURNING *)
     SELECT claimed.*, sv.provider FROM claimed
       LEFT JOIN storage_versions sv ON sv.tenant_id = claimed.tenant_id AND sv.version = claimed.storage_version`,
    [id, target.storageVersion, target.objectKey],
  );
  return r.rows[0];
}

/** The recording with its tenant's active storage version: what a transfer starts from. */
/** A recording with what the transfer needs of its tenant. */
export type TransferRow = RecordingRow & {
  active_storage_version: number | null;
  /** The tenant's metadata sidecar mode (migration 1763900005000). */
  metadata_sidecar: 'encrypted' | 'plaintext' | 'off';
};

export async function getForTransfer(db: Queryable, id: string): Promise<TransferRow | undefined> {
  const r = await db.query<TransferRow>(
    `SELECT r.*, sv.provider, t.active_storage_version, t.metadata_sidecar FROM recordings r
       JOIN tenants t ON t.id = r.tenant_id
       LEFT JOIN storage_versions sv ON sv.tenant_id = r.tenant_id AND sv.version = r.storage_version
      WHERE r.id = $1`,
    [id],
  );
  return r.rows[0];
}

export async function markStored(
  db: Queryable,
  id: string,
  s: {
    storageVersion: number;
    objectKey: string;
    location: string;
    objectVersion: string | null;
    objectSize: number;
    keyId: string;
    /** The time the metadata sidecar states, so both agree; now when not given. */
    storedAt?: Date;
  },
): Promise<boolean> {
  // Only the attempt that claimed this storage version and key may mark it: an older,
  // overlapping attempt (the tenant switched storage meanwhile) must not.
  const r = await db.query(
    `UPDATE recordings SET status = 'stored', stored_at = COALESCE($8, now()), location = $2, object_version = $3,
       object_size = $4, key_id = $5, error_code = NULL, error_message = NULL, next_attempt_at = NULL, updated_at = now()
     WHERE id = $1 AND status = 'transferring' AND storage_version = $6 AND object_key = $7`,
    [
      id,
      s.location,
      s.objectVersion,
      s.objectSize,
      s.keyId,
      s.storageVersion,
      s.objectKey,
      s.storedAt ?? null,
    ],
  );
  return r.rowCount === 1;
}

/** The spooled copy is gone (after a verified store, or a deletion). */
export async function clearSpool(db: Queryable, id: string): Promise<void> {
  await db.query(
    'UPDATE recordings SET spool_file = NULL, spool_bytes = NULL, updated_at = now() WHERE id = $1',
    [id],
  );
}

export async function markBlocked(
  db: Queryable,
  id: string,
  e: { code: string; message: string; retryAt: Date },
): Promise<{ previousCode: string | null } | undefined> {
  const r = await db.query<{ previous_code: string | null }>(
    `UPDATE recordings r SET status = 'blocked', error_code = $2, error_message = $3, next_attempt_at = $4, updated_at = now()
       FROM (SELECT id, error_code AS previous_code FROM recordings WHERE id = $1 FOR UPDATE) old
     WHERE r.id = old.id AND r.status IN ('queued', 'transferring', 'blocked')
     RETURNING old.previous_code`,
    [id, e.code, e.message, e.retryAt],
  );
  return r.rows[0] ? { previousCode: r.rows[0].previous_code } : undefined;
}

export async function markFailed(
  db: Queryable,
  id: string,
  e: { code: string; message: string },
): Promise<boolean> {
  const r = await db.query(
    `UPDATE recordings SET status = 'failed', error_code = $2, error_message = $3, next_attempt_at = NULL, updated_at = now()
     WHERE id = $1 AND status IN ('queued', 'transferring', 'blocked')`,
    [id, e.code, e.message],
  );
  return r.rowCount === 1;
}

export async function markDeleting(db: Queryable, id: string): Promise<void> {
  await db.query(`UPDATE recordings SET status = 'deleting', updated_at = now() WHERE id = $1`, [id]);
}

export async function markDeleted(db: Queryable, id: string): Promise<boolean> {
  const r = await db.query(
    `UPDATE recordings SET status = 'deleted', deleted_at = now(), spool_file = NULL, spool_bytes = NULL,
       next_attempt_at = NULL, updated_at = now()
     WHERE id = $1 AND status = 'deleting'`,
    [id],
  );
  return r.rowCount === 1;
}

export async function setLegalHold(
  db: Queryable,
  id: string,
  hold: boolean,
  reason: string | null,
): Promise<void> {
  await db.query(
    'UPDATE recordings SET legal_hold = $2, legal_hold_reason = $3, updated_at = now() WHERE id = $1',
    [id, hold, hold ? reason : null],
  );
}

/** A blocked recording is retried now (tenant says it fixed things). */
export async function requeueBlocked(db: Queryable, id: string): Promise<boolean> {
  const r = await db.query(
    `UPDATE recordings SET status = 'queued', next_attempt_at = NULL, updated_at = now() WHERE id = $1 AND status = 'blocked'`,
    [id],
  );
  return r.rowCount === 1;
}

/** Rows the reconciler must make sure have a job: pending work and due blocked retries. */
export async function findWork(
  db: Queryable,
  limit: number,
): Promise<{ id: string; tenant_id: string; status: RecordingStatus }[]> {
  const r = await db.query<{ id: string; tenant_id: string; status: RecordingStatus }>(
    `SELECT id, tenant_id, status FROM recordings
      WHERE status IN ('queued', 'transferring', 'deleting')
         OR (status = 'blocked' AND next_attempt_at <= now())
      ORDER BY created_at LIMIT $1`,
    [limit],
  );
  return r.rows;
}

export async function findExpired(
  db: Queryable,
  tenantId: string | undefined,
  limit: number,
): Promise<{ id: string; tenant_id: string; legal_hold: boolean }[]> {
  const r = await db.query<{ id: string; tenant_id: string; legal_hold: boolean }>(
    `SELECT id, tenant_id, legal_hold FROM recordings
      WHERE expires_at <= now() AND status NOT IN ('deleting', 'deleted') AND ($1::text IS NULL OR tenant_id = $1)
      ORDER BY expires_at LIMIT $2`,
    [tenantId ?? null, limit],
  );
  return r.rows;
}
