import type { Queryable } from './pool.js';
import type { RecordingRow } from './recordings.js';

export type KeyJobKind = 'rewrap' | 'reencrypt' | 'migrate';
export type KeyJobStatus = 'running' | 'done' | 'failed' | 'cancelled';
export type KeyJobItemState = 'copying' | 'switched' | 'done' | 'failed' | 'skipped' | 'abandoned';

export interface KeyJobRow {
  id: string;
  tenant_id: string;
  kind: KeyJobKind;
  target_version: number;
  recording_ids: string[] | null;
  status: KeyJobStatus;
  total: number;
  done: number;
  failed: number;
  skipped: number;
  rate_per_second: number;
  error: string | null;
  created_by: string;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

export interface KeyJobItemRow {
  job_id: string;
  recording_id: string;
  tenant_id: string;
  state: KeyJobItemState;
  from_version: number;
  from_key: string;
  to_version: number;
  to_key: string;
}

/**
 * The recordings a job still has to do, as SQL over `recordings r` and its parameters.
 * Rewrap and migrate: every stored recording not yet on the target version, so a re-run
 * skips what is done. Re-encrypt: every stored recording (or the ones asked for) this job
 * has not settled yet. Both leave out what this job already gave up on.
 */
function pending(j: {
  tenantId: string;
  id: string;
  kind: KeyJobKind;
  targetVersion: number;
  recordingIds: string[] | null;
}): { where: string; params: unknown[] } {
  const common = `r.tenant_id = $1 AND r.status = 'stored' AND ($3::text[] IS NULL OR r.id = ANY($3))`;
  if (j.kind === 'reencrypt') {
    return {
      where: `${common} AND NOT EXISTS (SELECT 1 FROM key_job_items i WHERE i.job_id = $2 AND i.recording_id = r.id
        AND i.state IN ('switched', 'done', 'failed', 'skipped'))`,
      params: [j.tenantId, j.id, j.recordingIds],
    };
  }
  return {
    where: `${common} AND r.storage_version <> $4 AND NOT EXISTS (SELECT 1 FROM key_job_items i
      WHERE i.job_id = $2 AND i.recording_id = r.id AND i.state IN ('failed', 'skipped'))`,
    params: [j.tenantId, j.id, j.recordingIds, j.targetVersion],
  };
}

export async function countPending(
  db: Queryable,
  j: { tenantId: string; id: string; kind: KeyJobKind; targetVersion: number; recordingIds: string[] | null },
): Promise<number> {
  const { where, params } = pending(j);
  const r = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM recordings r WHERE ${where}`,
    params,
  );
  return r.rows[0]!.n;
}

/** The next recordings to do, in id order after `afterId` (a cursor within one run). */
export async function nextPending(
  db: Queryable,
  job: KeyJobRow,
  afterId: string,
  limit: number,
): Promise<RecordingRow[]> {
  const { where, params } = pending({
    tenantId: job.tenant_id,
    id: job.id,
    kind: job.kind,
    targetVersion: job.target_version,
    recordingIds: job.recording_ids,
  });
  const n = params.length;
  const r = await db.query<RecordingRow>(
    `SELECT r.*, sv.provider FROM recordings r
       LEFT JOIN storage_versions sv ON sv.tenant_id = r.tenant_id AND sv.version = r.storage_version
      WHERE ${where} AND r.id > $${n + 1} ORDER BY r.id LIMIT $${n + 2}`,
    [...params, afterId, limit],
  );
  return r.rows;
}

/** Inserts a running job; `undefined` when the tenant already has one (the partial unique index). */
export async function insertKeyJob(
  db: Queryable,
  j: {
    id: string;
    tenantId: string;
    kind: KeyJobKind;
    targetVersion: number;
    recordingIds: string[] | null;
    ratePerSecond: number;
    createdBy: string;
  },
): Promise<KeyJobRow | undefined> {
  const r = await db.query<KeyJobRow>(
    `INSERT INTO key_jobs (id, tenant_id, kind, target_version, recording_ids, status, total, rate_per_second, created_by)
     VALUES ($1, $2, $3, $4, $5, 'running', 0, $6, $7)
     ON CONFLICT (tenant_id) WHERE status = 'running' DO NOTHING RETURNING *`,
    [j.id, j.tenantId, j.kind, j.targetVersion, j.recordingIds, j.ratePerSecond, j.createdBy],
  );
  return r.rows[0];
}

export async function setTotal(db: Queryable, id: string, total: number): Promise<KeyJobRow> {
  const r = await db.query<KeyJobRow>(
    'UPDATE key_jobs SET total = $2, updated_at = now() WHERE id = $1 RETURNING *',
    [id, total],
  );
  return r.rows[0]!;
}

export async function getKeyJob(db: Queryable, tenantId: string, id: string): Promise<KeyJobRow | undefined> {
  const r = await db.query<KeyJobRow>('SELECT * FROM key_jobs WHERE tenant_id = $1 AND id = $2', [
    tenantId,
    id,
  ]);
  return r.rows[0];
}

export async function listKeyJobs(db: Queryable, tenantId: string, limit: number): Promise<KeyJobRow[]> {
  const r = await db.query<KeyJobRow>(
    'SELECT * FROM key_jobs WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2',
    [tenantId, limit],
  );
  return r.rows;
}

export async function runningKeyJobs(db: Queryable): Promise<{ id: string; tenant_id: string }[]> {
  const r = await db.query<{ id: string; tenant_id: string }>(
    `SELECT id, tenant_id FROM key_jobs WHERE status = 'running' ORDER BY created_at`,
  );
  return r.rows;
}

/**
 * Locks the job row for the rest of the transaction if it is still running. A recording
 * is only switched under this lock, so once a cancel has committed no switch can follow
 * (and a settle may safely remove the cancelled job's unfinished copies).
 */
export async function lockRunningJob(db: Queryable, id: string): Promise<boolean> {
  const r = await db.query(`SELECT 1 FROM key_jobs WHERE id = $1 AND status = 'running' FOR UPDATE`, [id]);
  return (r.rowCount ?? 0) > 0;
}

/** Ends a running job (done, failed or cancelled); `undefined` if it was not running. */
export async function finishKeyJob(
  db: Queryable,
  id: string,
  status: Exclude<KeyJobStatus, 'running'>,
  error: string | null,
): Promise<KeyJobRow | undefined> {
  const r = await db.query<KeyJobRow>(
    `UPDATE key_jobs SET status = $2, error = $3, finished_at = now(), updated_at = now()
      WHERE id = $1 AND status = 'running' RETURNING *`,
    [id, status, error],
  );
  return r.rows[0];
}

/** Counts one recording's outcome; `total` grows if recordings were stored after the job began. */
export async function countOutcome(
  db: Queryable,
  id: string,
  outcome: 'done' | 'failed' | 'skipped',
): Promise<void> {
  await db.query(
    `UPDATE key_jobs SET ${outcome} = ${outcome} + 1,
       total = GREATEST(total, done + failed + skipped + 1), updated_at = now() WHERE id = $1`,
    [id],
  );
}

/** Records the intent before the new object is written (see the migration's comment). */
export async function beginItem(db: Queryable, item: Omit<KeyJobItemRow, 'state'>): Promise<void> {
  await db.query(
    `INSERT INTO key_job_items (job_id, recording_id, tenant_id, state, from_version, from_key, to_version, to_key)
     VALUES ($1, $2, $3, 'copying', $4, $5, $6, $7)
     ON CONFLICT (job_id, recording_id) DO UPDATE SET state = 'copying', from_version = $4, from_key = $5,
       to_version = $6, to_key = $7, error_code = NULL, error_message = NULL, updated_at = now()`,
    [
      item.job_id,
      item.recording_id,
      item.tenant_id,
      item.from_version,
      item.from_key,
      item.to_version,
      item.to_key,
    ],
  );
}

export async function setItemState(
  db: Queryable,
  jobId: string,
  recordingId: string,
  state: KeyJobItemState,
  error?: { code: string; message: string },
): Promise<void> {
  await db.query(
    `UPDATE key_job_items SET state = $3, error_code = $4, error_message = $5, updated_at = now()
      WHERE job_id = $1 AND recording_id = $2`,
    [jobId, recordingId, state, error?.code ?? null, error?.message ?? null],
  );
}

/**
 * Items that may have left an object behind: `switched` ones of any job (the old object)
 * switched at least `graceMs` ago, and `copying` ones of jobs no longer running (their new
 * object). A running job's `copying` items are redone by that job itself.
 */
export async function unsettledItems(db: Queryable, tenantId: string, graceMs = 0): Promise<KeyJobItemRow[]> {
  const r = await db.query<KeyJobItemRow>(
    `SELECT i.* FROM key_job_items i JOIN key_jobs j ON j.id = i.job_id
      WHERE i.tenant_id = $1 AND ${unsettled('$2')}
      ORDER BY i.updated_at`,
    [tenantId, graceMs / 1000],
  );
  return r.rows;
}

/** The condition of `unsettledItems`, with the grace in seconds as parameter `grace`. */
const unsettled = (
  grace: string,
) => `((i.state = 'switched' AND i.updated_at <= now() - make_interval(secs => ${grace}))
  OR (i.state = 'copying' AND j.status <> 'running'))`;

/** Tenants with leftovers due for removal (see `unsettledItems`). */
export async function tenantsWithLeftovers(db: Queryable, graceMs: number): Promise<string[]> {
  const r = await db.query<{ tenant_id: string }>(
    `SELECT DISTINCT i.tenant_id FROM key_job_items i JOIN key_jobs j ON j.id = i.job_id
      WHERE i.state IN ('switched', 'copying') AND ${unsettled('$1')}`,
    [graceMs / 1000],
  );
  return r.rows.map((row) => row.tenant_id);
}

/** Whether any recording row points at this object: then it is live and must never be deleted. */
export async function objectInUse(
  db: Queryable,
  tenantId: string,
  version: number,
  key: string,
): Promise<boolean> {
  const r = await db.query(
    `SELECT 1 FROM recordings WHERE tenant_id = $1 AND storage_version = $2 AND object_key = $3
       AND status <> 'deleted' LIMIT 1`,
    [tenantId, version, key],
  );
  return (r.rowCount ?? 0) > 0;
}

/** Points a stored recording at its new object, only if it still is where the job found it. */
export async function relocateRecording(
  db: Queryable,
  id: string,
  from: { version: number; key: string },
  to: {
    version: number;
    key: string;
    location: string;
    objectVersion: string | null;
    objectSize: number;
    keyId: string;
  },
): Promise<boolean> {
  const r = await db.query(
    `UPDATE recordings SET storage_version = $4, object_key = $5, location = $6, object_version = $7,
       object_size = $8, key_id = $9, updated_at = now()
     WHERE id = $1 AND status = 'stored' AND storage_version = $2 AND object_key = $3`,
    [id, from.version, from.key, to.version, to.key, to.location, to.objectVersion, to.objectSize, to.keyId],
  );
  return r.rowCount === 1;
}

/** Why recordings failed in a job (a few, for the operator). */
export async function itemFailures(
  db: Queryable,
  jobId: string,
  limit: number,
): Promise<{ recording_id: string; error_code: string; error_message: string }[]> {
  const r = await db.query<{ recording_id: string; error_code: string; error_message: string }>(
    `SELECT recording_id, error_code, error_message FROM key_job_items
      WHERE job_id = $1 AND state = 'failed' ORDER BY updated_at LIMIT $2`,
    [jobId, limit],
  );
  return r.rows;
}

/** Of `ids`, those that are not recordings of the tenant. */
export async function foreignRecordingIds(db: Queryable, tenantId: string, ids: string[]): Promise<string[]> {
  const r = await db.query<{ id: string }>(
    `SELECT u.id FROM unnest($2::text[]) AS u(id)
      WHERE NOT EXISTS (SELECT 1 FROM recordings r WHERE r.id = u.id AND r.tenant_id = $1)`,
    [tenantId, ids],
  );
  return r.rows.map((x) => x.id);
}
