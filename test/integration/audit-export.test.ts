import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../src/domain/audit.js';
import { transaction } from '../../src/db/pool.js';
import { api, createKey, postRecording, setupTenant, waitForStatus } from '../support/client.js';
import { type Harness, startHarness } from '../support/harness.js';
import { filesUnder, waitUntil } from '../support/observe.js';
import {
  type AuditItem,
  entryHash,
  expectProblem,
  fetchAudit,
  GENESIS,
  keyIdOf,
} from './contract-helpers.js';

/**
 * Audit export (JSON Lines with its chain anchor), server-side verification against the
 * chain and the checkpoints in the tenant's own storage, and the key-usage report. The
 * tampering is done the way a rogue DBA would: straight in PostgreSQL, trigger disabled.
 */
const T = 'export-main';
let h: Harness;
let key: string;
let recordingId: string;

const lines = (bytes: Buffer): AuditItem[] =>
  bytes
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));

/** Re-checks an exported range from its anchor alone, with the contract's rule computed here. */
function expectVerifiesFrom(anchor: string, items: AuditItem[]): void {
  let previous = anchor;
  for (const e of items) {
    expect(e.hash, `seq ${e.seq}`).toBe(entryHash(previous, e));
    previous = e.hash;
  }
}

const exportOf = (tenant: string, query = '') => api(h, 'GET', `/v1/tenants/${tenant}/audit/export${query}`);

const checkpointDir = (tenant: string) =>
  path.join(h.dataDir, 'storage', tenant, 'default', '_custody', 'audit-checkpoints');
const checkpointName = (seq: number) => `${String(seq).padStart(20, '0')}.json`;

async function head(tenant: string): Promise<{ seq: number; hash: string }> {
  const r = await h.ctx.db.query<{ seq: number; hash: string }>(
    'SELECT seq, hash FROM audit_heads WHERE tenant_id = $1',
    [tenant],
  );
  return r.rows[0]!;
}

/** Waits for the checkpoint job to copy the current head into the tenant's storage. */
async function checkpointOfHead(tenant: string): Promise<{ seq: number; hash: string }> {
  const now = await head(tenant);
  await waitUntil(`checkpoint ${now.seq} of ${tenant}`, async () =>
    (await filesUnder(checkpointDir(tenant))).includes(checkpointName(now.seq)),
  );
  return now;
}

/** Runs SQL on audit_events with the append-only trigger off (this test's own schema only). */
async function behindTheServicesBack(sql: string, params: unknown[]): Promise<number> {
  await h.ctx.db.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update');
  try {
    return (await h.ctx.db.query(sql, params)).rowCount ?? 0;
  } finally {
    await h.ctx.db.query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update');
  }
}

const verify = async (tenant: string) => {
  const r = await api(h, 'GET', `/v1/tenants/${tenant}/audit/verify`);
  expect(r.status, r.bytes.toString()).toBe(200);
  return r.body;
};

/** A tenant with storage, a stored recording and a few more entries. */
async function busyTenant(tenant: string): Promise<string> {
  const { key: k } = await setupTenant(h, tenant);
  const r = await postRecording(h, k, Buffer.alloc(1200, 7), { callId: 'busy' });
  expect(r.status).toBe(202);
  await waitForStatus(h, k, r.body.id, ['stored']);
  for (let i = 0; i < 3; i++) await createKey(h, tenant, ['recordings:read']);
  return k;
}

beforeAll(async () => {
  h = await startHarness({ env: { CUSTODY_AUDIT_CHECKPOINT_INTERVAL_SECONDS: '1' } });
  ({ key } = await setupTenant(h, T));
  const r = await postRecording(h, key, Buffer.alloc(2000, 3), { callId: 'export' });
  expect(r.status).toBe(202);
  recordingId = (await waitForStatus(h, key, r.body.id, ['stored'])).id;
  // Two playback links, each used, for two different people.
  for (const onBehalfOf of ['agent-ana', 'agent-bo']) {
    const link = await api(h, 'POST', `/v1/recordings/${recordingId}/playback-link`, {
      token: key,
      json: { onBehalfOf },
    });
    expect(link.status).toBe(201);
    expect((await api(h, 'GET', link.body.url, { token: null })).status).toBe(200);
  }
  for (let i = 0; i < 4; i++) await createKey(h, T, ['recordings:read']);
});
afterAll(() => h?.close());

describe('GET /v1/tenants/{t}/audit/export', () => {
  it('streams the whole chain as JSON Lines, entry for entry as the audit API returns it', async () => {
    const { items } = await fetchAudit(h, T);
    const r = await exportOf(T);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(r.headers.get('custody-audit-previous-hash')).toBe(GENESIS);
    expect(r.headers.get('custody-audit-previous-seq')).toBe('0');
    const exported = lines(r.bytes);
    expect(r.headers.get('custody-audit-entries')).toBe(String(exported.length));
    expect(exported).toEqual(items);
    expectVerifiesFrom(GENESIS, exported);
  });

  it('exports a time range that re-verifies on its own from the anchor header', async () => {
    const { items } = await fetchAudit(h, T);
    const from = items[4]!.at;
    const to = items[items.length - 2]!.at;
    const r = await exportOf(T, `?from=${from}&to=${to}`);
    expect(r.status).toBe(200);
    const exported = lines(r.bytes);
    const expected = items.filter((e) => e.at >= from && e.at < to);
    expect(exported).toEqual(expected);
    expect(exported.length).toBeGreaterThan(3);
    const anchor = r.headers.get('custody-audit-previous-hash')!;
    expect(anchor).toBe(items[expected[0]!.seq - 2]!.hash);
    expect(r.headers.get('custody-audit-previous-seq')).toBe(String(expected[0]!.seq - 1));
    expectVerifiesFrom(anchor, exported);

    // The anchor is what makes it verifiable: from 64 zeros the same lines do not.
    expect(() => expectVerifiesFrom(GENESIS, exported)).toThrow();

    // An empty window: no lines, and the anchor is the chain's state at `from`.
    const last = items[items.length - 1]!;
    const later = new Date(Date.parse(last.at) + 60_000).toISOString();
    const empty = await exportOf(T, `?from=${later}&to=${later}`);
    expect(empty.status).toBe(200);
    expect(empty.bytes.length).toBe(0);
    expect(empty.headers.get('custody-audit-entries')).toBe('0');
    expect(empty.headers.get('custody-audit-previous-hash')).toBe(last.hash);
  });

  it('bad from/to → 400 problem, for export and key-usage alike', async () => {
    const { items } = await fetchAudit(h, T);
    const [early, late] = [items[0]!.at, items[items.length - 1]!.at];
    for (const route of ['audit/export', 'key-usage']) {
      for (const query of [
        'from=yesterday',
        'to=2025-13-01T00:00:00Z',
        'from=2025-01-01',
        `from=${late}&to=${early}`,
        `from=${early}&from=${late}`,
      ]) {
        const r = await api(h, 'GET', `/v1/tenants/${T}/${route}?${query}`);
        expectProblem(r, 400, 'VALIDATION_FAILED');
      }
    }
    expectProblem(await api(h, 'GET', `/v1/tenants/${T}/key-usage?limit=0`), 400, 'VALIDATION_FAILED');
    expectProblem(await api(h, 'GET', '/v1/tenants/no-such-tenant/audit/export'), 404, 'NOT_FOUND');
  });
});

describe('GET /v1/tenants/{t}/key-usage', () => {
  it('lists each playback use with the onBehalfOf its link was made for, and other decryptions by name', async () => {
    const actor = `api-key:${keyIdOf(key)}`;
    const first = await api(h, 'GET', `/v1/tenants/${T}/key-usage`);
    expect(first.status).toBe(200);
    expect(first.body.items).toMatchObject([
      { recordingId, actor, onBehalfOf: 'agent-ana', purpose: 'playback' },
      { recordingId, actor, onBehalfOf: 'agent-bo', purpose: 'playback' },
    ]);
    const { items } = await fetchAudit(h, T);
    const used = items.filter((e) => e.action === 'playback.link-used');
    expect(first.body.items.map((u: { at: string; seq: number }) => [u.seq, u.at])).toEqual(
      used.map((e) => [e.seq, e.at]),
    );

    // Other engineers' re-encryption paths audit under these names; the report picks them up.
    await appendAudit(h.ctx.db, T, {
      actor: 'system:rewrap',
      action: 'recording.rewrapped',
      target: `recording:${recordingId}`,
      detail: { fromVersion: 1, toVersion: 2 },
    });
    await appendAudit(h.ctx.db, T, {
      actor,
      action: 'recording.exported',
      target: `recording:${recordingId}`,
      detail: { onBehalfOf: 'auditor-cy' },
    });
    const all = (await api(h, 'GET', `/v1/tenants/${T}/key-usage`)).body.items;
    expect(all.map((u: { purpose: string }) => u.purpose)).toEqual([
      'playback',
      'playback',
      'rewrap',
      'export',
    ]);
    expect(all[2]).not.toHaveProperty('onBehalfOf');
    expect(all[3]).toMatchObject({ actor, onBehalfOf: 'auditor-cy', recordingId });

    // A window and a cursor.
    const from = all[1].at;
    const windowed = (await api(h, 'GET', `/v1/tenants/${T}/key-usage?from=${from}`)).body.items;
    expect(windowed).toEqual(all.filter((u: { at: string }) => u.at >= from));
    const page = await api(h, 'GET', `/v1/tenants/${T}/key-usage?limit=3`);
    expect(page.body.items).toEqual(all.slice(0, 3));
    const rest = await api(h, 'GET', `/v1/tenants/${T}/key-usage?cursor=${page.body.nextCursor}`);
    expect(rest.body).toEqual({ items: all.slice(3) });
  });
});

describe('checkpoints in the tenant’s own storage', () => {
  it('copies the head as plaintext JSON, again whenever it moves', async () => {
    const cp = await checkpointOfHead(T);
    const doc = JSON.parse(await readFile(path.join(checkpointDir(T), checkpointName(cp.seq)), 'utf8'));
    expect(doc).toEqual({ tenantId: T, seq: cp.seq, hash: cp.hash, at: expect.any(String) });
    const { items } = await fetchAudit(h, T);
    expect(items[cp.seq - 1]!.hash).toBe(cp.hash);

    await createKey(h, T, ['recordings:read']);
    const next = await checkpointOfHead(T);
    expect(next.seq).toBe(cp.seq + 1);
    const files = await filesUnder(checkpointDir(T));
    expect(files).toContain(checkpointName(cp.seq));
    expect(files).toEqual([...files].sort());
  });
});

describe('GET /v1/tenants/{t}/audit/verify', () => {
  it('an intact chain: ok, every entry checked, the head, and the checkpoint matching', async () => {
    const cp = await checkpointOfHead(T);
    const report = await verify(T);
    const { items } = await fetchAudit(h, T);
    const last = items[items.length - 1]!;
    expect(report).toEqual({
      ok: true,
      checked: items.length,
      head: { seq: last.seq, hash: last.hash },
      checkpoint: { seq: cp.seq, hash: cp.hash, at: expect.any(String), matches: true },
    });
  });

  it('one row’s detail altered in PostgreSQL → exactly that entry is the first broken link', async () => {
    const X = 'export-tampered';
    await busyTenant(X);
    const { items } = await fetchAudit(h, X);
    const victim = items[Math.floor(items.length / 2)]!;
    const changed = await behindTheServicesBack(
      `UPDATE audit_events SET detail = detail || '{"note":"nothing to see"}'::jsonb
        WHERE tenant_id = $1 AND seq = $2`,
      [X, victim.seq],
    );
    expect(changed).toBe(1);
    const report = await verify(X);
    expect(report).toMatchObject({
      ok: false,
      checked: items.length,
      firstBroken: { seq: victim.seq, reason: 'hash-mismatch' },
    });
    // The untouched tenant is unaffected.
    expect((await verify(T)).ok).toBe(true);
  });

  it('tail rows deleted (and the head record rewound) after a checkpoint → truncated', async () => {
    const X = 'export-truncated';
    await busyTenant(X);
    const cp = await checkpointOfHead(X);
    const keep = cp.seq - 3;
    const { items } = await fetchAudit(h, X);
    expect(
      await behindTheServicesBack('DELETE FROM audit_events WHERE tenant_id = $1 AND seq > $2', [X, keep]),
    ).toBe(3);
    // A careful attacker fixes the head record too, so the database alone looks consistent.
    await h.ctx.db.query('UPDATE audit_heads SET seq = $2, hash = $3 WHERE tenant_id = $1', [
      X,
      keep,
      items[keep - 1]!.hash,
    ]);
    const report = await verify(X);
    expect(report).toMatchObject({
      ok: false,
      checked: keep,
      head: { seq: keep, hash: items[keep - 1]!.hash },
      firstBroken: { seq: keep + 1, reason: 'truncated' },
      checkpoint: { seq: cp.seq, hash: cp.hash, matches: false },
    });
  });

  it('a chain rewritten and re-hashed consistently → checkpoint-mismatch at the checkpoint', async () => {
    const X = 'export-rewritten';
    await busyTenant(X);
    const cp = await checkpointOfHead(X);
    const { items } = await fetchAudit(h, X);
    // Rewrite entry 3 and re-hash everything after it, head included: the chain alone verifies.
    const rewritten = structuredClone(items);
    rewritten[2]!.detail = { ...rewritten[2]!.detail, rewritten: true };
    let previous = rewritten[1]!.hash;
    for (const e of rewritten.slice(2)) {
      e.hash = entryHash(previous, e);
      previous = e.hash;
    }
    for (const e of rewritten.slice(2)) {
      await behindTheServicesBack(
        'UPDATE audit_events SET detail = $3, hash = $4 WHERE tenant_id = $1 AND seq = $2',
        [X, e.seq, JSON.stringify(e.detail), e.hash],
      );
    }
    await h.ctx.db.query('UPDATE audit_heads SET hash = $2 WHERE tenant_id = $1', [X, previous]);
    expect((await fetchAudit(h, X)).items).toEqual(rewritten);

    const report = await verify(X);
    expect(report).toMatchObject({
      ok: false,
      checked: items.length,
      firstBroken: { seq: cp.seq, reason: 'checkpoint-mismatch' },
      checkpoint: { seq: cp.seq, hash: cp.hash, matches: false },
    });
  });

  it('walks and exports chains longer than one page (1000 rows), page boundaries included', async () => {
    const X = 'export-long';
    expect((await api(h, 'POST', '/v1/tenants', { json: { id: X, name: X, retention: 'P1D' } })).status).toBe(
      201,
    );
    await transaction(h.ctx.db, async (tx) => {
      for (let i = 0; i < 2400; i++)
        await appendAudit(tx, X, { actor: 'test', action: 'test.filler', target: `n:${i}`, detail: { i } });
    });
    const { items } = await fetchAudit(h, X);
    expect(items).toHaveLength(2401);
    const exported = await exportOf(X);
    expect(lines(exported.bytes)).toEqual(items);
    expect(exported.headers.get('custody-audit-entries')).toBe('2401');
    expect(await verify(X)).toEqual({
      ok: true,
      checked: 2401,
      head: { seq: 2401, hash: items[2400]!.hash },
    });
    for (const seq of [1000, 1001, 2001]) {
      await behindTheServicesBack("UPDATE audit_events SET actor = 'x' WHERE tenant_id = $1 AND seq = $2", [
        X,
        seq,
      ]);
      expect((await verify(X)).firstBroken).toEqual({ seq, reason: 'hash-mismatch' });
      await behindTheServicesBack(
        "UPDATE audit_events SET actor = 'test' WHERE tenant_id = $1 AND seq = $2",
        [X, seq],
      );
    }
    // A row missing inside the chain is a gap at its seq, not a mismatch further on.
    await behindTheServicesBack('DELETE FROM audit_events WHERE tenant_id = $1 AND seq = $2', [X, 1500]);
    expect(await verify(X)).toMatchObject({ checked: 2400, firstBroken: { seq: 1500, reason: 'seq-gap' } });
  });
});
