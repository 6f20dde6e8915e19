import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createKey, postRecording, setupTenant, waitForStatus } from '../support/client.js';
import { type Harness, startHarness } from '../support/harness.js';
import { expectProblem, fetchAudit, keyIdOf } from './contract-helpers.js';

/** Two tenants on one service: neither can see, touch or infer the other's data. */
const A = 'iso-a';
const B = 'iso-b';
let h: Harness;
let keyA: string;
let keyB: string;
const recsA: string[] = [];
const recsB: string[] = [];
/** A's recordings in the list's order: createdAt, then id, descending. */
let newestFirst: string[] = [];
/** Every API key secret the test has seen, to look for in responses. */
const secrets: string[] = [];

async function post(key: string, callId: string): Promise<string> {
  const r = await postRecording(h, key, randomBytes(512), { callId });
  expect(r.status, r.bytes.toString()).toBe(202);
  return r.body.id;
}

beforeAll(async () => {
  h = await startHarness();
  ({ key: keyA } = await setupTenant(h, A));
  ({ key: keyB } = await setupTenant(h, B));
  secrets.push(keyA, keyB);
  // Sequential, so creation times differ and the list order is well defined.
  for (let i = 0; i < 7; i++) recsA.push(await post(keyA, i % 2 ? 'call-odd' : 'call-even'));
  for (let i = 0; i < 3; i++) recsB.push(await post(keyB, 'call-even'));
  const views = [];
  for (const id of recsA) views.push(await waitForStatus(h, keyA, id, ['stored']));
  newestFirst = views
    .sort((x, y) => y.createdAt.localeCompare(x.createdAt) || (y.id < x.id ? -1 : y.id > x.id ? 1 : 0))
    .map((v) => v.id as string);
  for (const id of recsB) await waitForStatus(h, keyB, id, ['stored']);
});
afterAll(() => h?.close());

describe('another tenant’s recording is answered exactly like a missing one', () => {
  const missing = 'rec_doesNotExistAtAll000';
  const calls: [string, string, unknown?][] = [
    ['GET', ''],
    ['DELETE', ''],
    ['PUT', '/legal-hold', { hold: true, reason: 'probe' }],
    ['POST', '/playback-link', {}],
    ['POST', '/retry'],
  ];
  for (const [method, suffix, json] of calls) {
    it(`${method} /v1/recordings/{id}${suffix} → 404, same body as a missing id`, async () => {
      const foreign = await api(h, method, `/v1/recordings/${recsB[0]}${suffix}`, { token: keyA, json });
      const absent = await api(h, method, `/v1/recordings/${missing}${suffix}`, { token: keyA, json });
      expectProblem(foreign, 404, 'NOT_FOUND');
      expectProblem(absent, 404, 'NOT_FOUND');
      expect({ ...foreign.body }).toEqual({ ...absent.body });
    });
  }

  it('and B’s recording was not changed by any of it', async () => {
    const r = await api(h, 'GET', `/v1/recordings/${recsB[0]}`, { token: keyB });
    expect(r.body).toMatchObject({ status: 'stored', legalHold: false });
    const links = await h.ctx.db.query('SELECT 1 FROM playback_links WHERE recording_id = $1', [recsB[0]]);
    expect(links.rowCount).toBe(0);
  });

  it('a tenant admin cannot reach the other tenant through its path, nor revoke its keys', async () => {
    for (const p of ['', '/api-keys', '/storage', '/storage/aws-setup', '/audit'])
      expectProblem(await api(h, 'GET', `/v1/tenants/${B}${p}`, { token: keyA }), 404, 'NOT_FOUND');
    // A's own path with B's key id: the key is not A's, so there is nothing to revoke.
    expectProblem(
      await api(h, 'DELETE', `/v1/tenants/${A}/api-keys/${keyIdOf(keyB)}`, { token: keyA }),
      404,
      'NOT_FOUND',
    );
    expect((await api(h, 'GET', '/v1/recordings', { token: keyB })).status).toBe(200);
  });
});

describe('lists and the audit trail only ever hold the caller’s own items', () => {
  it('GET /v1/recordings returns only own recordings', async () => {
    const a = await api(h, 'GET', '/v1/recordings?limit=100', { token: keyA });
    const b = await api(h, 'GET', '/v1/recordings?limit=100', { token: keyB });
    expect(a.body.items.map((r: { id: string }) => r.id).sort()).toEqual([...recsA].sort());
    expect(b.body.items.map((r: { id: string }) => r.id).sort()).toEqual([...recsB].sort());
    expect(new Set(a.body.items.map((r: { tenantId: string }) => r.tenantId))).toEqual(new Set([A]));
  });

  it('a cursor taken from B’s listing does not show B’s items to A', async () => {
    const b = await api(h, 'GET', '/v1/recordings?limit=1', { token: keyB });
    expect(b.body.nextCursor).toEqual(expect.any(String));
    const a = await api(h, 'GET', `/v1/recordings?limit=100&cursor=${b.body.nextCursor}`, { token: keyA });
    expect(a.status).toBe(200);
    for (const item of a.body.items) expect(item.tenantId).toBe(A);
  });

  it('A’s audit trail names none of B’s recordings, keys or tenant', async () => {
    const { items } = await fetchAudit(h, A);
    expect(items.length).toBeGreaterThan(recsA.length);
    const text = JSON.stringify(items);
    for (const id of [...recsB, keyIdOf(keyB), `tenant:${B}`]) expect(text).not.toContain(id);
    for (const id of recsA) expect(text).toContain(id);
  });
});

describe('secrets never come back', () => {
  it('API key lists show no key, no hash', async () => {
    const created = await api(h, 'POST', `/v1/tenants/${A}/api-keys`, {
      json: { name: 'listed', scopes: ['recordings:read'] },
    });
    expect(created.status).toBe(201);
    secrets.push(created.body.key, await createKey(h, A, ['tenant:admin']));
    const rows = await h.ctx.db.query<{ key_hash: Buffer }>('SELECT key_hash FROM api_keys');
    const hashes = rows.rows.flatMap((r) => [r.key_hash.toString('hex'), r.key_hash.toString('base64')]);
    for (const token of [undefined, keyA]) {
      const list = await api(h, 'GET', `/v1/tenants/${A}/api-keys`, { token });
      expect(list.status).toBe(200);
      expect(list.body.items.length).toBeGreaterThanOrEqual(3);
      for (const item of list.body.items) {
        expect(Object.keys(item).sort()).toEqual([
          'createdAt',
          'expiresAt',
          'id',
          'name',
          'revokedAt',
          'scopes',
        ]);
      }
      const text = list.bytes.toString();
      // `ck_<16 hex id>_<secret>`: the secret may itself contain `_`, so cut at the fixed prefix.
      for (const s of [...secrets, ...secrets.map((k) => k.slice('ck_'.length + 16 + 1)), ...hashes])
        expect(text).not.toContain(s);
      expect(text).not.toMatch(/"(key|keyHash|key_hash|hash|secret)"/i);
    }
  });

  it('GET storage and aws-setup hold no secret', async () => {
    const master = await readFile(path.join(h.dataDir, 'local-master.key'));
    const secretsKey = h.ctx.config.secretsKey!;
    const forbidden = [master, secretsKey].flatMap((k) => [
      k.toString('hex'),
      k.toString('base64'),
      k.toString('base64url'),
      createHash('sha256').update(k).digest('hex'),
    ]);
    for (const p of ['/storage', '/storage/aws-setup']) {
      const r = await api(h, 'GET', `/v1/tenants/${A}${p}`);
      expect(r.status).toBe(200);
      const text = r.bytes.toString();
      for (const s of [...forbidden, ...secrets]) expect(text).not.toContain(s);
      expect(text).not.toMatch(/"(clientSecret|clientCertificatePem|secret|secretCiphertext|password)"/i);
    }
    const storage = await api(h, 'GET', `/v1/tenants/${A}/storage`);
    expect(storage.body.active).toMatchObject({ provider: 'local', keyId: `custody-local/tenant/${A}` });
  });
});

describe('GET /v1/recordings pagination and filters', () => {
  async function all(query: string, limit: number): Promise<{ ids: string[]; pages: number }> {
    const ids: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const qs = `${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const r = await api(h, 'GET', `/v1/recordings?${qs}`, { token: keyA });
      expect(r.status, r.bytes.toString()).toBe(200);
      expect(r.body.items.length).toBeLessThanOrEqual(limit);
      ids.push(...r.body.items.map((i: { id: string }) => i.id));
      cursor = r.body.nextCursor;
      pages += 1;
    } while (cursor && pages < 100);
    return { ids, pages };
  }

  it('visits every item exactly once, newest first, for every page size', async () => {
    for (const limit of [1, 2, 3, 7, 100]) {
      const { ids, pages } = await all('', limit);
      expect(ids).toEqual(newestFirst);
      expect(pages).toBe(Math.max(1, Math.ceil(recsA.length / limit)));
    }
  });

  it('filters by callId, across pages too', async () => {
    const odd = new Set(recsA.filter((_, i) => i % 2));
    expect((await all('callId=call-odd', 2)).ids).toEqual(newestFirst.filter((id) => odd.has(id)));
    expect((await all('callId=call-even', 2)).ids).toEqual(newestFirst.filter((id) => !odd.has(id)));
    expect((await all('callId=nobody', 2)).ids).toEqual([]);
  });

  it('filters by status', async () => {
    const gone = recsA[2]!;
    expect((await api(h, 'DELETE', `/v1/recordings/${gone}`, { token: keyA })).status).toBe(202);
    await waitForStatus(h, keyA, gone, ['deleted']);
    expect((await all('status=deleted', 2)).ids).toEqual([gone]);
    expect((await all('status=stored', 2)).ids).toEqual(newestFirst.filter((id) => id !== gone));
    expect((await all('status=queued', 2)).ids).toEqual([]);
    expect((await all('status=stored&callId=call-even', 1)).ids).toEqual(
      newestFirst.filter((id) => recsA.indexOf(id) % 2 === 0 && id !== gone),
    );
  });
});
