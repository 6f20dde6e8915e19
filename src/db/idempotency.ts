import type { Queryable } from './pool.js';

export interface IdempotencyRow {
  recording_id: string;
  sha256: string;
  size: number;
}

/** Claims `key` for a recording; returns the existing claim when the key was used before. */
export async function claimIdempotencyKey(
  db: Queryable,
  c: { tenantId: string; key: string; recordingId: string; sha256: string; size: number },
): Promise<IdempotencyRow | undefined> {
  const inserted = await db.query(
    `INSERT INTO idempotency_keys (tenant_id, key, recording_id, sha256, size) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (tenant_id, key) DO NOTHING`,
    [c.tenantId, c.key, c.recordingId, c.sha256, c.size],
  );
  if (inserted.rowCount === 1) return undefined;
  const r = await db.query<IdempotencyRow>(
    'SELECT recording_id, sha256, size FROM idempotency_keys WHERE tenant_id = $1 AND key = $2',
    [c.tenantId, c.key],
  );
  return r.rows[0];
}

/** Keys are remembered at least 24 h (the contract); older ones are pruned by the retention sweep. */
export async function pruneIdempotencyKeys(db: Queryable, olderThanHours = 48): Promise<number> {
  const r = await db.query(
    `DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)`,
    [olderThanHours],
  );
  return r.rowCount ?? 0;
}
