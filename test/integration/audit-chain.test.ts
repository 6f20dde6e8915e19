import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createKey, postRecording, setupTenant, waitForStatus } from '../support/client.js';
import { type Harness, startHarness } from '../support/harness.js';
import {
  type AuditItem,
  entryHash,
  expectProblem,
  expectValidChain,
  fetchAudit,
  keyIdOf,
  until,
} from './contract-helpers.js';

/**
 * The audit trail re-verifies from the API alone (the contract's hash rule computed
 * here with `canonicalize`, independently of the service's code), stays one unforked
 * chain under concurrent writers, and records every action the contract lists.
 */
const T = 'audit-main';
let h: Harness;
let key: string;

const audio = () => randomBytes(1500);
const byAction = (items: AuditItem[], action: string) => items.filter((e) => e.action === action);
const targetsOf = (items: AuditItem[], action: string) => byAction(items, action).map((e) => e.target);

async function stored(k: string, callId = 'audit'): Promise<string> {
  const r = await postRecording(h, k, audio(), { callId });
  expect(r.status, r.bytes.toString()).toBe(202);
  await waitForStatus(h, k, r.body.id, ['stored']);
  return r.body.id;
}

/** The link id inside a playback URL (the JWS payload), to match its audit entries. */
const linkIdOf = (url: string) =>
  JSON.parse(Buffer.from(new URL(url).pathname.split('/').pop()!.split('.')[1]!, 'base64url').toString())
    .lid as string;

beforeAll(async () => {
  h = await startHarness();
  ({ key } = await setupTenant(h, T));
});
afterAll(() => h?.close());

describe('the audit chain', () => {
  it('starts at seq 1 from 64 zeros with tenant, handshake, storage and key entries', async () => {
    const { items } = await fetchAudit(h, T);
    expectValidChain(items);
    expect(items.slice(0, 4).map((e) => e.action)).toEqual([
      'tenant.created',
      'storage.handshake',
      'storage.activated',
      'api-key.created',
    ]);
    expect(items[0]).toMatchObject({ seq: 1, actor: 'operator', target: `tenant:${T}` });
    expect(items[1]!.detail).toMatchObject({ provider: 'local', ok: true });
    expect(items[3]!.target).toBe(`api-key:${keyIdOf(key)}`);
  });

  it('records key revocation, tenant changes, recordings, links, holds and deletions', async () => {
    const revoked = await createKey(h, T, ['recordings:read']);
    expect((await api(h, 'DELETE', `/v1/tenants/${T}/api-keys/${keyIdOf(revoked)}`)).status).toBe(204);
    expect((await api(h, 'PATCH', `/v1/tenants/${T}`, { json: { name: 'Audited' } })).status).toBe(200);

    const played = await stored(key);
    const links: string[] = [];
    for (const onBehalfOf of ['agent-7', undefined]) {
      const r = await api(h, 'POST', `/v1/recordings/${played}/playback-link`, {
        token: key,
        json: onBehalfOf ? { onBehalfOf } : {},
      });
      expect(r.status).toBe(201);
      links.push(r.body.url);
    }
    // Several requests on the first link (as a player makes them), one on the second.
    for (const headers of [{} as Record<string, string>, { range: 'bytes=0-99' }, { range: 'bytes=100-' }]) {
      const r = await api(h, 'GET', links[0]!, { token: null, headers });
      expect([200, 206]).toContain(r.status);
    }
    expect((await api(h, 'HEAD', links[0]!, { token: null })).status).toBe(200);
    expect((await api(h, 'GET', links[1]!, { token: null })).status).toBe(200);

    const held = await stored(key);
    const hold = (body: unknown) =>
      api(h, 'PUT', `/v1/recordings/${held}/legal-hold`, { token: key, json: body });
    expect((await hold({ hold: true, reason: 'case 12' })).body).toMatchObject({ legalHold: true });
    expectProblem(await api(h, 'DELETE', `/v1/recordings/${held}`, { token: key }), 409, 'LEGAL_HOLD');
    expect((await hold({ hold: false })).body).toMatchObject({ legalHold: false });
    expect((await api(h, 'DELETE', `/v1/recordings/${held}`, { token: key })).status).toBe(202);
    await waitForStatus(h, key, held, ['deleted']);

    const { items } = await fetchAudit(h, T);
    expectValidChain(items);
    expect(targetsOf(items, 'api-key.revoked')).toEqual([`api-key:${keyIdOf(revoked)}`]);
    expect(byAction(items, 'tenant.updated').map((e) => e.detail)).toEqual([{ name: 'Audited' }]);
    for (const id of [played, held]) {
      expect(targetsOf(items, 'recording.received').filter((t) => t === `recording:${id}`)).toHaveLength(1);
      expect(targetsOf(items, 'recording.stored').filter((t) => t === `recording:${id}`)).toHaveLength(1);
    }
    const created = byAction(items, 'playback.link-created');
    expect(created.map((e) => e.detail.linkId)).toEqual(links.map(linkIdOf));
    expect(created[0]!.detail.onBehalfOf).toBe('agent-7');
    const used = byAction(items, 'playback.link-used');
    expect(used.map((e) => e.detail.linkId).sort()).toEqual(links.map(linkIdOf).sort());
    expect(used.find((e) => e.detail.linkId === linkIdOf(links[0]!))).toMatchObject({
      actor: `api-key:${keyIdOf(key)}`,
      target: `recording:${played}`,
      detail: { onBehalfOf: 'agent-7' },
    });
    expect(byAction(items, 'recording.legal-hold-set')).toMatchObject([
      { target: `recording:${held}`, detail: { reason: 'case 12' } },
    ]);
    expect(targetsOf(items, 'recording.legal-hold-released')).toEqual([`recording:${held}`]);
    expect(byAction(items, 'recording.delete-requested')).toMatchObject([
      { target: `recording:${held}`, detail: { reason: 'request' } },
    ]);
    expect(targetsOf(items, 'recording.deleted')).toEqual([`recording:${held}`]);
  });

  it('30 concurrent writers do not fork the chain', async () => {
    const before = (await fetchAudit(h, T)).items.length;
    const writes = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        i % 2
          ? postRecording(h, key, audio(), { callId: `burst-${i}` }).then((r) => {
              expect(r.status).toBe(202);
              return `recording:${r.body.id}`;
            })
          : createKey(h, T, ['recordings:read']).then((k) => `api-key:${keyIdOf(k)}`),
      ),
    );
    const recordings = writes.filter((t) => t.startsWith('recording:'));
    for (const t of recordings) await waitForStatus(h, key, t.slice('recording:'.length), ['stored']);

    const { items } = await fetchAudit(h, T);
    expectValidChain(items);
    // Each write exactly once (plus each recording's `stored`), and nothing else.
    expect(items).toHaveLength(before + writes.length + recordings.length);
    const fresh = items.slice(before);
    for (const t of writes) {
      const action = t.startsWith('recording:') ? 'recording.received' : 'api-key.created';
      expect(fresh.filter((e) => e.target === t && e.action === action)).toHaveLength(1);
    }
    const head = await h.ctx.db.query<{ seq: number; hash: string }>(
      'SELECT seq, hash FROM audit_heads WHERE tenant_id = $1',
      [T],
    );
    expect(head.rows[0]).toEqual({ seq: items.length, hash: items[items.length - 1]!.hash });
  });

  it('pages with a cursor, each entry exactly once and unchanged', async () => {
    const whole = (await fetchAudit(h, T)).items;
    for (const limit of [1, 7, whole.length, whole.length + 1]) {
      const { items, pages } = await fetchAudit(h, T, { limit });
      expect(items).toEqual(whole);
      expect(pages).toBe(Math.ceil(whole.length / limit));
    }
    const first = await api(h, 'GET', `/v1/tenants/${T}/audit?limit=5`);
    expect(first.body.nextCursor).toBe('5');
    const last = await api(h, 'GET', `/v1/tenants/${T}/audit?cursor=${whole.length - 2}`);
    expect(last.body.items.map((e: AuditItem) => e.seq)).toEqual([whole.length - 1, whole.length]);
    expect(last.body.nextCursor).toBeUndefined();
  });

  it('filters by from (inclusive) and to (exclusive), and a window re-verifies from its predecessor', async () => {
    const whole = (await fetchAudit(h, T)).items;
    const from = whole[10]!.at;
    const to = whole[whole.length - 10]!.at;
    const cases: [string, (e: AuditItem) => boolean][] = [
      [`from=${from}`, (e) => e.at >= from],
      [`to=${to}`, (e) => e.at < to],
      [`from=${from}&to=${to}`, (e) => e.at >= from && e.at < to],
      [`from=${to}&to=${from}`, () => false],
    ];
    for (const [query, keep] of cases) {
      const expected = whole.filter(keep);
      const { items } = await fetchAudit(h, T, { query, limit: 4 });
      expect(items, query).toEqual(expected);
      if (expected.length > 1) {
        let previous = whole[expected[0]!.seq - 2]?.hash ?? '0'.repeat(64);
        for (const e of items) {
          expect(e.hash).toBe(entryHash(previous, e));
          previous = e.hash;
        }
      }
    }
    expect(cases.filter(([, keep]) => whole.some(keep))).toHaveLength(3);
  });

  it('the verifier this file uses does notice tampering', () => {
    return fetchAudit(h, T).then(({ items }) => {
      const tampered = structuredClone(items);
      tampered[5]!.detail = { ...tampered[5]!.detail, injected: true };
      expect(() => expectValidChain(tampered)).toThrow();
      const reordered = structuredClone(items);
      [reordered[3], reordered[4]] = [reordered[4]!, reordered[3]!];
      expect(() => expectValidChain(reordered)).toThrow();
    });
  });
});

describe('retention', () => {
  const R = 'audit-retention';
  let rkey: string;
  const ids: string[] = [];

  beforeAll(async () => {
    ({ key: rkey } = await setupTenant(h, R, undefined, 'PT1S'));
    for (let i = 0; i < 3; i++) ids.push(await stored(rkey, `ret-${i}`));
  });

  it('deletes expired recordings, keeps the one on legal hold, and audits each deletion', async () => {
    const [held, ...expiring] = ids as [string, ...string[]];
    const hold = await api(h, 'PUT', `/v1/recordings/${held}/legal-hold`, {
      token: rkey,
      json: { hold: true, reason: 'litigation' },
    });
    expect(hold.status).toBe(200);
    const expiries = await Promise.all(
      ids.map(async (id) =>
        Date.parse((await api(h, 'GET', `/v1/recordings/${id}`, { token: rkey })).body.expiresAt),
      ),
    );
    await until('every expiresAt to pass', async () => Date.now() > Math.max(...expiries) + 50);

    const run = await api(h, 'POST', `/v1/tenants/${R}/retention/run`);
    expect(run.status, run.bytes.toString()).toBe(200);
    expect(run.body).toEqual({ deleted: 2, kept: { legalHold: 1 } });
    for (const id of expiring) expect((await waitForStatus(h, rkey, id, ['deleted'])).status).toBe('deleted');
    expect((await api(h, 'GET', `/v1/recordings/${held}`, { token: rkey })).body).toMatchObject({
      status: 'stored',
      legalHold: true,
    });
    expectProblem(await api(h, 'DELETE', `/v1/recordings/${held}`, { token: rkey }), 409, 'LEGAL_HOLD');

    const { items } = await fetchAudit(h, R);
    expectValidChain(items);
    const requested = byAction(items, 'recording.delete-requested');
    expect(requested.map((e) => e.target).sort()).toEqual(expiring.map((id) => `recording:${id}`).sort());
    for (const e of requested)
      expect(e).toMatchObject({ actor: 'system:retention', detail: { reason: 'retention' } });
    expect(targetsOf(items, 'recording.deleted').sort()).toEqual(
      expiring.map((id) => `recording:${id}`).sort(),
    );
    expect(targetsOf(items, 'recording.legal-hold-set')).toEqual([`recording:${held}`]);

    // Released, the held one goes on the next run.
    await api(h, 'PUT', `/v1/recordings/${held}/legal-hold`, { token: rkey, json: { hold: false } });
    const again = await api(h, 'POST', `/v1/tenants/${R}/retention/run`);
    expect(again.body).toEqual({ deleted: 1, kept: { legalHold: 0 } });
    await waitForStatus(h, rkey, held, ['deleted']);
    const after = (await fetchAudit(h, R)).items;
    expectValidChain(after);
    expect(targetsOf(after, 'recording.legal-hold-released')).toEqual([`recording:${held}`]);
    expect(targetsOf(after, 'recording.deleted')).toContain(`recording:${held}`);
  });
});

describe('append-only storage', () => {
  it('UPDATE and DELETE on audit_events are refused by the database', async () => {
    const before = (await fetchAudit(h, T)).items;
    await expect(
      h.ctx.db.query("UPDATE audit_events SET actor = 'someone-else' WHERE tenant_id = $1", [T]),
    ).rejects.toThrow(/append-only/);
    await expect(h.ctx.db.query('DELETE FROM audit_events WHERE tenant_id = $1', [T])).rejects.toThrow(
      /append-only/,
    );
    const after = (await fetchAudit(h, T)).items;
    expect(after.slice(0, before.length)).toEqual(before);
    expectValidChain(after);
  });
});
