import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { type Db, type DbClient, type Queryable, transaction } from '../db/pool.js';

/** One audit entry exactly as the API returns it. */
export interface AuditEntry {
  seq: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  detail: Record<string, unknown>;
  hash: string;
}

export interface AuditInput {
  actor: string;
  action: string;
  target: string;
  detail?: Record<string, unknown>;
}

export const GENESIS_HASH = '0'.repeat(64);

/** `hash_n = hex(SHA-256(utf8(hash_{n-1}) ‖ utf8(JCS(entry_n without "hash"))))` (the contract). */
export function chainHash(previous: string, entry: Omit<AuditEntry, 'hash'>): string {
  const canonical = canonicalize(entry);
  if (canonical === undefined) throw new Error('audit entry is not serialisable');
  return createHash('sha256').update(previous, 'utf8').update(canonical, 'utf8').digest('hex');
}

/** Re-checks a chain from the API's representation; returns the first bad seq, if any. */
export function verifyChain(
  entries: AuditEntry[],
  previous = GENESIS_HASH,
  firstSeq = 1,
): number | undefined {
  let prev = previous;
  let expectedSeq = firstSeq;
  for (const { hash, ...rest } of entries) {
    if (rest.seq !== expectedSeq || chainHash(prev, rest) !== hash) return rest.seq;
    prev = hash;
    expectedSeq += 1;
  }
  return undefined;
}

/**
 * Appends to the tenant's chain. The head row is locked (`FOR UPDATE`) for the rest of
 * the caller's transaction, so concurrent writers queue instead of forking the chain.
 * Pass a client inside a transaction to make the entry part of a larger change.
 */
export async function appendAudit(
  db: Db | DbClient,
  tenantId: string,
  input: AuditInput,
): Promise<AuditEntry> {
  if ('totalCount' in db) return transaction(db, (client) => appendInTransaction(client, tenantId, input));
  return appendInTransaction(db, tenantId, input);
}

async function appendInTransaction(
  client: Queryable,
  tenantId: string,
  input: AuditInput,
): Promise<AuditEntry> {
  const lockHead = () =>
    client.query<{ seq: number; hash: string }>(
      'SELECT seq, hash FROM audit_heads WHERE tenant_id = $1 FOR UPDATE',
      [tenantId],
    );
  let head = await lockHead();
  if (head.rowCount === 0) {
    // First entry of this tenant's chain (tenants created before heads existed, or a race).
    await client.query(
      'INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT (tenant_id) DO NOTHING',
      [tenantId, GENESIS_HASH],
    );
    head = await lockHead();
  }
  const { seq: lastSeq, hash: lastHash } = head.rows[0]!;
  const entry: Omit<AuditEntry, 'hash'> = {
    seq: lastSeq + 1,
    at: new Date().toISOString(),
    actor: input.actor,
    action: input.action,
    target: input.target,
    // Round-trip through JSON so what is hashed is exactly what jsonb will give back.
    detail: JSON.parse(JSON.stringify(input.detail ?? {})),
  };
  const hash = chainHash(lastHash, entry);
  // One round trip: the event and the new head together.
  await client.query(
    `WITH event AS (
       INSERT INTO audit_events (tenant_id, seq, at, actor, action, target, detail, hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8))
     UPDATE audit_heads SET seq = $2, hash = $8 WHERE tenant_id = $1`,
    [
      tenantId,
      entry.seq,
      entry.at,
      entry.actor,
      entry.action,
      entry.target,
      JSON.stringify(entry.detail),
      hash,
    ],
  );
  return { ...entry, hash };
}

export interface AuditPage {
  items: AuditEntry[];
  nextCursor?: string;
}

/** Lists a tenant's chain in seq order; the cursor is the last seq returned. */
export async function listAudit(
  db: Queryable,
  tenantId: string,
  q: { from?: Date; to?: Date; limit: number; afterSeq?: number },
): Promise<AuditPage> {
  const rows = await db.query<{
    seq: number;
    at: Date;
    actor: string;
    action: string;
    target: string;
    detail: Record<string, unknown>;
    hash: string;
  }>(
    `SELECT seq, at, actor, action, target, detail, hash FROM audit_events
      WHERE tenant_id = $1 AND seq > $2 AND ($3::timestamptz IS NULL OR at >= $3) AND ($4::timestamptz IS NULL OR at < $4)
      ORDER BY seq LIMIT $5`,
    [tenantId, q.afterSeq ?? 0, q.from ?? null, q.to ?? null, q.limit + 1],
  );
  const items = rows.rows.slice(0, q.limit).map((r) => ({ ...r, at: r.at.toISOString() }));
  const more = rows.rows.length > q.limit;
  return more ? { items, nextCursor: String(items[items.length - 1]!.seq) } : { items };
}
