import type { Queryable } from '../db/pool.js';
import type { AuditEntry } from './audit.js';

/** Rows are read in pages of this many: a long chain is never held in memory at once. */
export const AUDIT_PAGE = 1000;

export interface AuditPageQuery {
  /** Entries with a greater seq (the keyset cursor). */
  afterSeq: number;
  /** Stop here: a snapshot of the head taken before the walk, so appends do not extend it. */
  maxSeq: number;
  from?: Date;
  to?: Date;
  actions?: readonly string[];
  limit?: number;
}

/** One page of a tenant's chain in seq order, each entry exactly as the audit API returns it. */
export async function readAuditPage(
  db: Queryable,
  tenantId: string,
  q: AuditPageQuery,
): Promise<AuditEntry[]> {
  const rows = await db.query<Omit<AuditEntry, 'at'> & { at: Date }>(
    `SELECT seq, at, actor, action, target, detail, hash FROM audit_events
      WHERE tenant_id = $1 AND seq > $2 AND seq <= $3
        AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)
        AND ($6::text[] IS NULL OR action = ANY ($6))
      ORDER BY seq LIMIT $7`,
    [tenantId, q.afterSeq, q.maxSeq, q.from ?? null, q.to ?? null, q.actions ?? null, q.limit ?? AUDIT_PAGE],
  );
  // Same key order and `at` rendering as `listAudit`, so a line hashes like an API entry.
  return rows.rows.map((r) => ({
    seq: r.seq,
    at: r.at.toISOString(),
    actor: r.actor,
    action: r.action,
    target: r.target,
    detail: r.detail,
    hash: r.hash,
  }));
}

/** Every matching entry up to `maxSeq`, page by page. */
export async function* walkAudit(
  db: Queryable,
  tenantId: string,
  q: Omit<AuditPageQuery, 'afterSeq'> & { afterSeq?: number },
): AsyncGenerator<AuditEntry> {
  let afterSeq = q.afterSeq ?? 0;
  const limit = q.limit ?? AUDIT_PAGE;
  for (;;) {
    const page = await readAuditPage(db, tenantId, { ...q, afterSeq, limit });
    yield* page;
    if (page.length < limit) return;
    afterSeq = page[page.length - 1]!.seq;
  }
}

/** The head as `audit_heads` records it and the highest seq actually stored, read in one snapshot. */
export async function chainBounds(
  db: Queryable,
  tenantId: string,
): Promise<{ headSeq: number; headHash: string | null; maxSeq: number }> {
  const r = await db.query<{ head_seq: number | null; head_hash: string | null; max_seq: number | null }>(
    `SELECT (SELECT seq FROM audit_heads WHERE tenant_id = $1) AS head_seq,
            (SELECT hash FROM audit_heads WHERE tenant_id = $1) AS head_hash,
            (SELECT max(seq) FROM audit_events WHERE tenant_id = $1) AS max_seq`,
    [tenantId],
  );
  const row = r.rows[0]!;
  return { headSeq: row.head_seq ?? 0, headHash: row.head_hash, maxSeq: row.max_seq ?? 0 };
}
