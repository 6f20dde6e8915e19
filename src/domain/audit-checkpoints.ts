import { Readable } from 'node:stream';
import { z } from 'zod';
import type { Context } from '../context.js';
import type { Queryable } from '../db/pool.js';
import type { StorageTarget } from '../storage/storage-target.js';

/**
 * Audit checkpoints: the chain's head (seq and hash), copied now and then into the
 * tenant's OWN storage. Someone able to rewrite Custody's database can re-hash a chain or
 * cut its tail off consistently, but cannot reach the tenant's bucket: the newest
 * checkpoint there pins what the chain must still contain.
 *
 * The object is plaintext JSON on purpose: it holds a tenant id, a sequence number, a
 * hash and a time — no personal data, no recording content — and the tenant must be able
 * to read it with nothing but their own bucket access.
 */
export const CHECKPOINT_PREFIX = '_custody/audit-checkpoints/';

/** Zero-padded (bigint fits in 19 digits) so key order is seq order in every provider's listing. */
export const checkpointKey = (seq: number) => `${CHECKPOINT_PREFIX}${String(seq).padStart(20, '0')}.json`;
const KEY_PATTERN = /^_custody\/audit-checkpoints\/(\d{20})\.json$/;

export const checkpointDoc = z.strictObject({
  tenantId: z.string(),
  seq: z.number().int().min(1),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  at: z.string(),
});
export type Checkpoint = z.infer<typeof checkpointDoc>;

interface Due {
  tenant_id: string;
  seq: number;
  hash: string;
  active_storage_version: number;
}

/** Tenants with storage whose head moved past their last checkpoint. */
async function dueTenants(db: Queryable): Promise<Due[]> {
  const r = await db.query<Due>(
    `SELECT h.tenant_id, h.seq, h.hash, t.active_storage_version
       FROM audit_heads h
       JOIN tenants t ON t.id = h.tenant_id
       LEFT JOIN audit_checkpoints c ON c.tenant_id = h.tenant_id
      WHERE t.active_storage_version IS NOT NULL AND h.seq > COALESCE(c.seq, 0)
      ORDER BY h.tenant_id`,
  );
  return r.rows;
}

/** Writes one tenant's checkpoint, then records it (object first: a failed put is retried next time). */
export async function writeCheckpoint(ctx: Context, due: Due): Promise<Checkpoint> {
  const doc: Checkpoint = {
    tenantId: due.tenant_id,
    seq: due.seq,
    hash: due.hash,
    at: new Date().toISOString(),
  };
  const body = Buffer.from(`${JSON.stringify(doc)}\n`, 'utf8');
  const storage = await ctx.storage.resolve(due.tenant_id, due.active_storage_version);
  await storage.target.put(checkpointKey(doc.seq), Readable.from([body]), {
    contentLength: body.length,
    contentType: 'application/json',
  });
  // Never moves backwards: two workers racing, or a head rewound behind our back, keep the higher one.
  await ctx.db.query(
    `INSERT INTO audit_checkpoints (tenant_id, seq, hash, storage_version, at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (tenant_id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash,
       storage_version = EXCLUDED.storage_version, at = EXCLUDED.at
     WHERE audit_checkpoints.seq < EXCLUDED.seq`,
    [doc.tenantId, doc.seq, doc.hash, due.active_storage_version, doc.at],
  );
  return doc;
}

/**
 * One pass over every tenant whose head moved. A tenant whose storage is unreachable is
 * skipped (and logged) without holding up the others; the next pass tries again. Writing
 * a checkpoint is not itself audited: that would move the head it just recorded.
 */
export async function writeDueCheckpoints(ctx: Context): Promise<{ written: number; failed: number }> {
  let written = 0;
  let failed = 0;
  for (const due of await dueTenants(ctx.db)) {
    try {
      await writeCheckpoint(ctx, due);
      written += 1;
    } catch (err) {
      failed += 1;
      ctx.log.warn(
        { tenantId: due.tenant_id, seq: due.seq, err: (err as Error).message },
        'audit checkpoint not written; will retry',
      );
    }
  }
  return { written, failed };
}

/** The newest checkpoint in a tenant's storage (highest seq), or `undefined` when there is none. */
export async function readNewestCheckpoint(
  target: StorageTarget,
  tenantId: string,
): Promise<{ key: string; seq: number; doc: Checkpoint | undefined } | undefined> {
  let newest: { key: string; seq: number } | undefined;
  for await (const o of target.list(CHECKPOINT_PREFIX)) {
    const m = KEY_PATTERN.exec(o.key);
    if (!m) continue;
    const seq = Number(m[1]);
    if (!newest || seq > newest.seq) newest = { key: o.key, seq };
  }
  if (!newest) return undefined;
  const stream = await target.get(newest.key);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    // A checkpoint is ~150 bytes; anything large is not one of ours.
    if (size > 4096) {
      stream.destroy();
      return { ...newest, doc: undefined };
    }
    chunks.push(chunk);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return { ...newest, doc: undefined };
  }
  const doc = checkpointDoc.safeParse(parsed);
  // A document that disagrees with its own name, or names another tenant, is not trusted.
  if (!doc.success || doc.data.seq !== newest.seq || doc.data.tenantId !== tenantId) {
    return { ...newest, doc: undefined };
  }
  return { ...newest, doc: doc.data };
}
