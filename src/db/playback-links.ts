import type { Queryable } from './pool.js';

export async function insertPlaybackLink(
  db: Queryable,
  l: {
    id: string;
    tenantId: string;
    recordingId: string;
    expiresAt: Date;
    onBehalfOf: string | null;
    createdBy: string;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO playback_links (id, tenant_id, recording_id, expires_at, on_behalf_of, created_by)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [l.id, l.tenantId, l.recordingId, l.expiresAt, l.onBehalfOf, l.createdBy],
  );
}

/**
 * Marks the link used; returns the link only the first time, so its use is audited once
 * however many range requests a player makes.
 */
export async function markFirstUse(
  db: Queryable,
  id: string,
): Promise<{ on_behalf_of: string | null; created_by: string } | undefined> {
  const r = await db.query<{ on_behalf_of: string | null; created_by: string }>(
    `UPDATE playback_links SET first_used_at = now() WHERE id = $1 AND first_used_at IS NULL
     RETURNING on_behalf_of, created_by`,
    [id],
  );
  return r.rows[0];
}
