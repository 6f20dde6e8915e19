import { filesUnder } from '../support/observe.js';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import canonicalize from 'canonicalize';
import { expect } from 'vitest';
import { type ApiResponse, api } from '../support/client.js';
import type { Harness } from '../support/harness.js';

/** Asserts an RFC 9457 problem document with the given status and stable code. */
export function expectProblem(res: ApiResponse, status: number, code?: string): void {
  const where = `${res.status} ${res.bytes.toString('utf8').slice(0, 300)}`;
  expect(res.status, where).toBe(status);
  expect(res.headers.get('content-type') ?? '', where).toMatch(/^application\/problem\+json\b/);
  expect(res.body, where).toMatchObject({ status, type: expect.any(String), title: expect.any(String) });
  expect(typeof res.body.detail, where).toBe('string');
  expect(res.body.code, where).toMatch(/^[A-Z][A-Z0-9_]*$/);
  if (code) expect(res.body.code, where).toBe(code);
}

export { filesUnder };

export const spoolFiles = (h: Harness) => filesUnder(path.join(h.dataDir, 'spool'));

/** Everything a rejected request must leave untouched: rows, claims, audit entries, spool files. */
export async function writtenState(h: Harness) {
  return {
    recordings: await countRows(h, 'recordings'),
    idempotency: await countRows(h, 'idempotency_keys'),
    audit: await countRows(h, 'audit_events'),
    spool: await spoolFiles(h),
  };
}

export async function countRows(h: Harness, table: string, tenantId?: string): Promise<number> {
  const r = tenantId
    ? await h.ctx.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table} WHERE tenant_id = $1`, [
        tenantId,
      ])
    : await h.ctx.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`);
  return Number(r.rows[0]!.n);
}

/** The key id inside a `ck_<id>_<secret>` API key. */
export function keyIdOf(key: string): string {
  const m = /^ck_([0-9a-f]+)_/.exec(key);
  if (!m) throw new Error('not an API key');
  return m[1]!;
}

/** Polls `probe` until it returns something truthy, or fails at the deadline. */
export async function until<T>(what: string, probe: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(25);
  }
}

export interface AuditItem {
  seq: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  detail: Record<string, unknown>;
  hash: string;
}

/** The whole chain through the API, following `nextCursor`. */
export async function fetchAudit(
  h: Harness,
  tenantId: string,
  o: { token?: string; limit?: number; query?: string } = {},
): Promise<{ items: AuditItem[]; pages: number }> {
  const items: AuditItem[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const qs = new URLSearchParams(o.query ?? '');
    qs.set('limit', String(o.limit ?? 1000));
    if (cursor) qs.set('cursor', cursor);
    const r = await api(h, 'GET', `/v1/tenants/${tenantId}/audit?${qs}`, { token: o.token });
    expect(r.status, r.bytes.toString()).toBe(200);
    pages += 1;
    items.push(...r.body.items);
    cursor = r.body.nextCursor;
    if (!cursor) return { items, pages };
    if (pages > 10_000) throw new Error('audit pagination does not end');
  }
}

export const GENESIS = '0'.repeat(64);

/** The contract's chain rule, computed independently of the service's own code. */
export function entryHash(previous: string, entry: AuditItem): string {
  const { hash: _hash, ...rest } = entry;
  const canonical = canonicalize(rest);
  if (canonical === undefined) throw new Error('not serialisable');
  return createHash('sha256')
    .update(Buffer.from(previous, 'utf8'))
    .update(Buffer.from(canonical, 'utf8'))
    .digest('hex');
}

/** Asserts seq 1..n contiguous and every hash linking to the one before. */
export function expectValidChain(items: AuditItem[]): void {
  let previous = GENESIS;
  items.forEach((e, i) => {
    expect(e.seq, `position ${i}`).toBe(i + 1);
    expect(e.hash, `hash of seq ${e.seq}`).toBe(entryHash(previous, e));
    previous = e.hash;
  });
}
