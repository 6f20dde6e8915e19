import type { Queryable } from '../db/pool.js';
import type { AuditEntry } from './audit.js';
import { chainBounds, readAuditPage } from './audit-read.js';

/**
 * Every audit action after which the tenant's key was used to decrypt a recording, and
 * why. Playback decrypts when a link is used (audited once per link, with the
 * `onBehalfOf` it was created for); creating a link decrypts nothing. Export, rewrap and
 * re-encryption decrypt to re-encrypt or hand out the audio.
 */
export const DECRYPTING_ACTIONS: Record<string, string> = {
  'playback.link-used': 'playback',
  'recording.exported': 'export',
  'recording.rewrapped': 'rewrap',
  'recording.reencrypted': 'reencrypt',
};

export interface KeyUsage {
  at: string;
  recordingId: string;
  actor: string;
  onBehalfOf?: string;
  purpose: string;
  /** The audit entry this was derived from, to find it in the chain. */
  seq: number;
}

const usageOf = (e: AuditEntry): KeyUsage => {
  const fromTarget = e.target.startsWith('recording:') ? e.target.slice('recording:'.length) : undefined;
  const { recordingId, onBehalfOf } = e.detail as { recordingId?: unknown; onBehalfOf?: unknown };
  return {
    at: e.at,
    recordingId: fromTarget ?? (typeof recordingId === 'string' ? recordingId : e.target),
    actor: e.actor,
    ...(typeof onBehalfOf === 'string' ? { onBehalfOf } : {}),
    purpose: DECRYPTING_ACTIONS[e.action]!,
    seq: e.seq,
  };
};

/** One page of the report in chain order; the cursor is the last entry's seq. */
export async function keyUsageReport(
  db: Queryable,
  tenantId: string,
  q: { from?: Date; to?: Date; limit: number; afterSeq?: number },
): Promise<{ items: KeyUsage[]; nextCursor?: string }> {
  const { maxSeq } = await chainBounds(db, tenantId);
  const rows = await readAuditPage(db, tenantId, {
    afterSeq: q.afterSeq ?? 0,
    maxSeq,
    from: q.from,
    to: q.to,
    actions: Object.keys(DECRYPTING_ACTIONS),
    limit: q.limit + 1,
  });
  const items = rows.slice(0, q.limit).map(usageOf);
  return rows.length > q.limit ? { items, nextCursor: String(items[items.length - 1]!.seq) } : { items };
}
