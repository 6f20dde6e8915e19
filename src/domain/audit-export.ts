import type { Queryable } from '../db/pool.js';
import { GENESIS_HASH } from './audit.js';
import { chainBounds, walkAudit } from './audit-read.js';

export interface ExportPlan {
  /** The head when the export started: entries appended meanwhile are not part of it. */
  maxSeq: number;
  /** How many entries the export holds (lets a reader notice a cut-off stream). */
  count: number;
  /** The chain anchor: the entry just before the first exported one (0 and 64 zeros at the start). */
  previousSeq: number;
  previousHash: string;
}

export interface ExportRange {
  from?: Date;
  to?: Date;
}

/**
 * Fixes what an export of `[from, to)` contains before the first byte is sent, so the
 * anchor and the count can go in response headers. With an empty range the anchor is the
 * chain's state at `from` (the last entry before it).
 */
export async function planExport(db: Queryable, tenantId: string, range: ExportRange): Promise<ExportPlan> {
  const { maxSeq } = await chainBounds(db, tenantId);
  const window = await db.query<{ first: number | null; count: number }>(
    `SELECT min(seq) AS first, count(*)::int AS count FROM audit_events
      WHERE tenant_id = $1 AND seq <= $2
        AND ($3::timestamptz IS NULL OR at >= $3) AND ($4::timestamptz IS NULL OR at < $4)`,
    [tenantId, maxSeq, range.from ?? null, range.to ?? null],
  );
  const { first, count } = window.rows[0]!;
  let anchorSeq = 0;
  if (first !== null) anchorSeq = first - 1;
  else if (range.from) {
    const before = await db.query<{ seq: number | null }>(
      'SELECT max(seq) AS seq FROM audit_events WHERE tenant_id = $1 AND seq <= $2 AND at < $3',
      [tenantId, maxSeq, range.from],
    );
    anchorSeq = before.rows[0]?.seq ?? 0;
  }
  // The nearest stored row at or below the anchor: if rows are missing there, verifying
  // the export fails, as it should.
  const anchor = await db.query<{ seq: number; hash: string }>(
    'SELECT seq, hash FROM audit_events WHERE tenant_id = $1 AND seq <= $2 ORDER BY seq DESC LIMIT 1',
    [tenantId, anchorSeq],
  );
  return {
    maxSeq,
    count,
    previousSeq: anchorSeq,
    previousHash: anchorSeq === 0 ? GENESIS_HASH : (anchor.rows[0]?.hash ?? GENESIS_HASH),
  };
}

/**
 * The export's lines, one JSON entry each (as the audit API returns it), read from
 * PostgreSQL a page at a time and handed on in chunks of about 64 KiB.
 */
export async function* exportLines(
  db: Queryable,
  tenantId: string,
  plan: ExportPlan,
  range: ExportRange,
): AsyncGenerator<string> {
  let chunk = '';
  for await (const entry of walkAudit(db, tenantId, { maxSeq: plan.maxSeq, ...range })) {
    chunk += `${JSON.stringify(entry)}\n`;
    if (chunk.length >= 65_536) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}
