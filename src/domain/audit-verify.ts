import type { Context } from '../context.js';
import { requireTenant } from './tenants.js';
import { chainHash, GENESIS_HASH } from './audit.js';
import { readNewestCheckpoint } from './audit-checkpoints.js';
import { chainBounds, walkAudit } from './audit-read.js';

/**
 * Why a link is broken: `seq-gap` (a row is missing inside the chain), `hash-mismatch`
 * (a row does not hash to what it says), `head-mismatch` (the head record disagrees with
 * the last row), `truncated` (the chain ends before its head record or before a
 * checkpoint in the tenant's storage), `checkpoint-mismatch` (the entry at the
 * checkpoint's seq has another hash: the chain was rewritten), `checkpoint-unreadable`
 * (the newest checkpoint object is not a valid checkpoint of this tenant).
 */
export type BrokenReason =
  | 'seq-gap'
  | 'hash-mismatch'
  | 'head-mismatch'
  | 'truncated'
  | 'checkpoint-mismatch'
  | 'checkpoint-unreadable';

export interface VerifyReport {
  ok: boolean;
  /** Rows walked. */
  checked: number;
  /** The last row of the chain as stored (seq 0 and 64 zeros for an empty chain). */
  head: { seq: number; hash: string };
  firstBroken?: { seq: number; reason: BrokenReason };
  checkpoint?: { seq: number; hash: string; at: string; matches: boolean };
  /** The tenant's storage could not be read, so truncation could not be ruled out. */
  checkpointError?: string;
}

type Checkpointed = Awaited<ReturnType<typeof readNewestCheckpoint>>;

/** The newest checkpoint in the tenant's active storage; errors become a report field, never a 500. */
async function newestCheckpoint(
  ctx: Context,
  tenantId: string,
  version: number | null,
): Promise<{ found: Checkpointed; error?: string }> {
  if (version === null) return { found: undefined };
  try {
    const storage = await ctx.storage.resolve(tenantId, version);
    return { found: await readNewestCheckpoint(storage.target, tenantId) };
  } catch (err) {
    // Only our classified code goes out: provider messages may echo upstream bodies.
    const code = (err as { code?: unknown }).code;
    ctx.log.warn({ tenantId, err: (err as Error).message }, 'audit checkpoint unreadable');
    return { found: undefined, error: `storage unavailable${typeof code === 'string' ? ` (${code})` : ''}` };
  }
}

/**
 * Walks the tenant's whole chain server-side, page by page, and compares it with its
 * head record and with the newest checkpoint in the tenant's own storage. The
 * checkpoint is read BEFORE the chain's bounds are taken: a checkpoint written meanwhile
 * then never names a seq beyond what this walk covers.
 */
export async function verifyTenantChain(ctx: Context, tenantId: string): Promise<VerifyReport> {
  const tenant = await requireTenant(ctx.db, tenantId);
  const cp = await newestCheckpoint(ctx, tenantId, tenant.active_storage_version);
  const bounds = await chainBounds(ctx.db, tenantId);

  const breaks: { seq: number; reason: BrokenReason }[] = [];
  const brokenAt = (seq: number, reason: BrokenReason) => {
    if (breaks.length === 0) breaks.push({ seq, reason });
  };
  let previous = GENESIS_HASH;
  let expected = 1;
  let checked = 0;
  let atCheckpointSeq: string | undefined;
  const cpSeq = cp.found?.seq;
  for await (const { hash, ...entry } of walkAudit(ctx.db, tenantId, { maxSeq: bounds.maxSeq })) {
    if (entry.seq !== expected) brokenAt(expected, 'seq-gap');
    // Only this row's own link: after a break, carry on from the stored hash to find the head.
    else if (chainHash(previous, entry) !== hash) brokenAt(entry.seq, 'hash-mismatch');
    if (entry.seq === cpSeq) atCheckpointSeq = hash;
    previous = hash;
    expected = entry.seq + 1;
    checked += 1;
  }
  const head = { seq: expected - 1, hash: previous };

  if (bounds.headSeq > head.seq) brokenAt(head.seq + 1, 'truncated');
  else if (bounds.headSeq === head.seq && head.seq > 0 && bounds.headHash !== head.hash)
    brokenAt(head.seq, 'head-mismatch');

  let checkpoint: VerifyReport['checkpoint'];
  if (cp.found) {
    const { doc } = cp.found;
    if (!doc) {
      breaks.push({ seq: cp.found.seq, reason: 'checkpoint-unreadable' });
    } else {
      const matches = atCheckpointSeq === doc.hash;
      checkpoint = { seq: doc.seq, hash: doc.hash, at: doc.at, matches };
      // Later findings only count if nothing earlier in the chain broke first.
      if (doc.seq > head.seq) breaks.push({ seq: head.seq + 1, reason: 'truncated' });
      else if (!matches) breaks.push({ seq: doc.seq, reason: 'checkpoint-mismatch' });
    }
  }
  const firstBroken = breaks.sort((a, b) => a.seq - b.seq)[0];
  return {
    ok: firstBroken === undefined && cp.error === undefined,
    checked,
    head,
    ...(firstBroken ? { firstBroken } : {}),
    ...(checkpoint ? { checkpoint } : {}),
    ...(cp.error ? { checkpointError: cp.error } : {}),
  };
}
