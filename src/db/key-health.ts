import type { Queryable } from './pool.js';

/** A verdict the table keeps: `unreachable` is never stored (it says nothing about the key). */
export type StoredKeyState =
  | 'ok'
  | 'disabled'
  | 'pending-deletion'
  | 'expired'
  | 'access-denied'
  | 'not-found';

export interface KeyHealthRow {
  tenant_id: string;
  storage_version: number;
  state: StoredKeyState | null;
  code: string | null;
  deletion_date: Date | null;
  checked_at: Date | null;
  unhealthy_since: Date | null;
}

/**
 * Claims up to `limit` tenants whose key is due a check: an active storage version and no
 * check since `dueBefore` (or one of another version), not claimed by another worker. The
 * claim is one atomic upsert per tenant, so concurrent workers split tenants between them
 * and each tenant is checked once per interval, not once per worker.
 */
export async function claimDueTenants(
  db: Queryable,
  o: { dueBefore: Date; claimMs: number; limit: number },
): Promise<{ tenant_id: string; storage_version: number }[]> {
  const r = await db.query<{ tenant_id: string; storage_version: number }>(
    `WITH due AS (
       SELECT t.id, t.active_storage_version FROM tenants t LEFT JOIN key_health cur ON cur.tenant_id = t.id
        WHERE t.active_storage_version IS NOT NULL
          AND (cur.tenant_id IS NULL
               OR ((cur.claimed_until IS NULL OR cur.claimed_until < now())
                   AND (cur.checked_at IS NULL OR cur.checked_at <= $1
                        OR cur.storage_version <> t.active_storage_version)))
        ORDER BY cur.checked_at NULLS FIRST
        LIMIT $3),
     claimed AS (
       INSERT INTO key_health AS kh (tenant_id, storage_version, claimed_until)
       SELECT id, active_storage_version, now() + make_interval(secs => $2) FROM due
       -- Re-checked on the row as it is now: another worker may have claimed, or even
       -- checked, the tenant since \`due\` was read.
       ON CONFLICT (tenant_id) DO UPDATE SET claimed_until = EXCLUDED.claimed_until
         WHERE (kh.claimed_until IS NULL OR kh.claimed_until < now())
           AND (kh.checked_at IS NULL OR kh.checked_at <= $1 OR kh.storage_version <> EXCLUDED.storage_version)
       RETURNING kh.tenant_id)
     SELECT due.id AS tenant_id, due.active_storage_version AS storage_version
       FROM due JOIN claimed ON claimed.tenant_id = due.id`,
    [o.dueBefore, o.claimMs / 1000, o.limit],
  );
  return r.rows;
}

/** The row, locked for the rest of the transaction (the verdict is compared and written under it). */
export async function lockKeyHealth(db: Queryable, tenantId: string): Promise<KeyHealthRow | undefined> {
  const r = await db.query<KeyHealthRow>('SELECT * FROM key_health WHERE tenant_id = $1 FOR UPDATE', [
    tenantId,
  ]);
  return r.rows[0];
}

export async function saveVerdict(
  db: Queryable,
  tenantId: string,
  v: {
    storageVersion: number;
    state: StoredKeyState;
    code: string | null;
    deletionDate: Date | null;
    unhealthySince: Date | null;
  },
): Promise<void> {
  await db.query(
    `UPDATE key_health SET storage_version = $2, state = $3, code = $4, deletion_date = $5,
       unhealthy_since = $6, checked_at = now(), claimed_until = NULL
     WHERE tenant_id = $1`,
    [tenantId, v.storageVersion, v.state, v.code, v.deletionDate, v.unhealthySince],
  );
}

/** Checked, but no verdict (the key service could not be asked): keep the last one. */
export async function releaseWithoutVerdict(db: Queryable, tenantId: string): Promise<void> {
  await db.query('UPDATE key_health SET checked_at = now(), claimed_until = NULL WHERE tenant_id = $1', [
    tenantId,
  ]);
}

/**
 * The transfer's one read: the tenant's key verdict if it is unhealthy, for this storage
 * version, and recent (a check attempted since `freshAfter`). Anything else (healthy, no
 * row, another version, nobody checking any more) means transfer as usual.
 */
export async function unhealthyKey(
  db: Queryable,
  tenantId: string,
  storageVersion: number,
  freshAfter: Date,
): Promise<{ state: StoredKeyState; code: string | null; deletion_date: Date | null } | undefined> {
  const r = await db.query<{ state: StoredKeyState; code: string | null; deletion_date: Date | null }>(
    `SELECT state, code, deletion_date FROM key_health
      WHERE tenant_id = $1 AND storage_version = $2 AND state IS NOT NULL AND state <> 'ok'
        AND checked_at > $3`,
    [tenantId, storageVersion, freshAfter],
  );
  return r.rows[0];
}

/** A page of a tenant's blocked recordings, oldest first (keyset on created_at, id). */
export async function blockedRecordings(
  db: Queryable,
  tenantId: string,
  after: { createdAt: Date; id: string } | undefined,
  limit: number,
): Promise<{ id: string; created_at: Date }[]> {
  const r = await db.query<{ id: string; created_at: Date }>(
    `SELECT id, created_at FROM recordings
      WHERE tenant_id = $1 AND status = 'blocked'
        AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
      ORDER BY created_at, id LIMIT $4`,
    [tenantId, after?.createdAt ?? null, after?.id ?? null, limit],
  );
  return r.rows;
}

export interface KeyMetricsRow {
  tenant_id: string;
  /** The active storage version's creation: when its key was put to use. */
  version_created_at: Date;
  /** The verdict when it is about the active version, else null. */
  state: StoredKeyState | null;
  deletion_date: Date | null;
}

/** Every tenant with an active storage version, with its key verdict (scraped into gauges). */
export async function keyMetricsRows(db: Queryable): Promise<KeyMetricsRow[]> {
  const r = await db.query<KeyMetricsRow>(
    `SELECT t.id AS tenant_id, sv.created_at AS version_created_at,
            CASE WHEN kh.storage_version = t.active_storage_version THEN kh.state END AS state,
            CASE WHEN kh.storage_version = t.active_storage_version THEN kh.deletion_date END AS deletion_date
       FROM tenants t
       JOIN storage_versions sv ON sv.tenant_id = t.id AND sv.version = t.active_storage_version
       LEFT JOIN key_health kh ON kh.tenant_id = t.id`,
  );
  return r.rows;
}
