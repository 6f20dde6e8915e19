import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Access, RouteSpec } from '../../src/http/route.js';
import { allRoutes } from '../../src/http/routes/index.js';
import { ALL_SCOPES, api, createKey, postRecording, setupTenant, waitForStatus } from '../support/client.js';
import { ADMIN_TOKEN, type Harness, startHarness } from '../support/harness.js';
import { expectProblem, keyIdOf } from './contract-helpers.js';

/**
 * The contract's route × scope table, copied by hand from docs/api-contract.md. It is
 * compared with `allRoutes` both ways, and every access check below is generated from
 * `allRoutes`, so a route cannot be added without deciding (and testing) its access.
 */
const ADMIN = ['tenant:admin'];
const CONTRACT_TABLE: Record<string, { scopes: string[]; operator: boolean }> = {
  'POST /v1/tenants': { scopes: [], operator: true },
  'GET /v1/tenants/{t}': { scopes: ADMIN, operator: true },
  'PATCH /v1/tenants/{t}': { scopes: ADMIN, operator: true },
  'POST /v1/tenants/{t}/api-keys': { scopes: ADMIN, operator: true },
  'GET /v1/tenants/{t}/api-keys': { scopes: ADMIN, operator: true },
  'DELETE /v1/tenants/{t}/api-keys/{keyId}': { scopes: ADMIN, operator: true },
  'GET /v1/tenants/{t}/storage': { scopes: ADMIN, operator: true },
  'GET /v1/tenants/{t}/storage/aws-setup': { scopes: ADMIN, operator: true },
  'PUT /v1/tenants/{t}/storage': { scopes: ADMIN, operator: true },
  'POST /v1/recordings': { scopes: ['recordings:write'], operator: false },
  'GET /v1/recordings': { scopes: ['recordings:read'], operator: false },
  'GET /v1/recordings/{id}': { scopes: ['recordings:read'], operator: false },
  'POST /v1/recordings/{id}/playback-link': { scopes: ['recordings:read'], operator: false },
  'DELETE /v1/recordings/{id}': { scopes: ['recordings:delete', 'tenant:admin'], operator: false },
  'PUT /v1/recordings/{id}/legal-hold': { scopes: ADMIN, operator: false },
  'POST /v1/recordings/{id}/retry': { scopes: ADMIN, operator: false },
  'POST /v1/tenants/{t}/retention/run': { scopes: ADMIN, operator: true },
  'GET /v1/tenants/{t}/audit': { scopes: ADMIN, operator: true },
  // Key rotation / storage switch jobs: tenant administration, like storage.
  'POST /v1/tenants/{t}/key-jobs': { scopes: ADMIN, operator: true },
  'GET /v1/tenants/{t}/key-jobs': { scopes: ADMIN, operator: true },
  'GET /v1/tenants/{t}/key-jobs/{id}': { scopes: ADMIN, operator: true },
  'POST /v1/tenants/{t}/key-jobs/{id}/cancel': { scopes: ADMIN, operator: true },
  // Audit export, server-side verification and the key-usage report: like the audit itself.
  'GET /v1/tenants/{t}/audit/export': { scopes: ADMIN, operator: true },
  'GET /v1/tenants/{t}/audit/verify': { scopes: ADMIN, operator: true },
  'GET /v1/tenants/{t}/key-usage': { scopes: ADMIN, operator: true },
  // Webhooks (docs/webhooks.md): tenant administration, like api-keys and storage.
  'POST /v1/tenants/{t}/webhooks': { scopes: ADMIN, operator: true },
  'GET /v1/tenants/{t}/webhooks': { scopes: ADMIN, operator: true },
  'DELETE /v1/tenants/{t}/webhooks/{webhookId}': { scopes: ADMIN, operator: true },
  'GET /v1/tenants/{t}/webhooks/{webhookId}/deliveries': { scopes: ADMIN, operator: true },
  'POST /v1/tenants/{t}/webhooks/{webhookId}/ping': { scopes: ADMIN, operator: true },
  // Offboarding: the tenant's admin may export; only the operator deletes a tenant.
  'POST /v1/tenants/{t}/export': { scopes: ADMIN, operator: true },
  'GET /v1/tenants/{t}/export/{exportId}': { scopes: ADMIN, operator: true },
  'DELETE /v1/tenants/{t}': { scopes: [], operator: true },
  'GET /v1/tenants/{t}/deletion-certificate': { scopes: [], operator: true },
};
/** Operations and the signed playback link need no credentials. */
const CONTRACT_PUBLIC = [
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
  'GET /openapi.json',
  'GET /v1/playback/{token}',
  'HEAD /v1/playback/{token}',
  // Anyone may verify a deletion certificate.
  'GET /v1/deletion-certificates/public-key',
  // The JSON Schema of the metadata sidecar, for tenants' own tools.
  'GET /v1/schemas/recording-metadata.v1.json',
];

const contractPath = (p: string) =>
  p.replace(/:(\w+)/g, (_m, n: string) => (n === 'tenantId' ? '{t}' : `{${n}}`));
const keyOf = (r: RouteSpec, method: string = r.method) => `${method.toUpperCase()} ${contractPath(r.path)}`;
const accessRow = (a: Access) =>
  a.kind === 'operator'
    ? { scopes: [], operator: true }
    : a.kind === 'public'
      ? undefined
      : { scopes: [...a.scopes].sort(), operator: a.kind === 'tenant' };

const protectedRoutes = allRoutes.filter((r) => r.access.kind !== 'public');
const publicRoutes = allRoutes.filter((r) => r.access.kind === 'public');

type Params = Record<string, string>;
function fill(route: RouteSpec, params: Params): string {
  return route.path.replace(/:(\w+)/g, (_m, name: string) => {
    const v = params[name];
    if (v === undefined) throw new Error(`no value for path parameter :${name} of ${route.path}`);
    return encodeURIComponent(v);
  });
}

const AUDIO = randomBytes(2048);
const A = 'authz-a';
const B = 'authz-b';
/** A tenant without storage: its recordings block, so `retry` has something to retry. */
const C = 'authz-c';

let h: Harness;
let ownParams: Params;
let foreignParams: Params;
let revokedKey: string;
let expiredKey: string;
const keys = new Map<string, Promise<string>>();

/** One key per tenant and scope set, created on first use. */
function keyFor(tenant: string, scopes: readonly string[]): Promise<string> {
  const id = `${tenant}|${[...scopes].sort().join(',')}`;
  let k = keys.get(id);
  if (!k) {
    k = createKey(h, tenant, [...scopes]);
    keys.set(id, k);
  }
  return k;
}

async function send(route: RouteSpec, token: string | null, params: Params, json?: unknown) {
  const raw = route.body !== undefined && 'raw' in route.body;
  const wantsJson = route.body !== undefined && !raw;
  const query = route.path === '/v1/recordings' && route.method === 'post' ? '?callId=authz-call' : '';
  return api(h, route.method.toUpperCase(), fill(route, params) + query, {
    token,
    ...(raw ? { body: AUDIO, headers: { 'content-type': 'audio/wav' } } : {}),
    ...(wantsJson ? { json: json ?? {} } : {}),
  });
}

async function storedRecording(tenant: string): Promise<string> {
  const key = await keyFor(tenant, ALL_SCOPES);
  const r = await postRecording(h, key, AUDIO, { callId: 'authz' });
  expect(r.status).toBe(202);
  return (await waitForStatus(h, key, r.body.id, ['stored'])).id;
}

/** How to make each route succeed, and with which status: a route without one fails the suite. */
interface Success {
  status: number;
  tenant?: string;
  params?: Params;
  json?: unknown;
}
let newTenants = 0;
/** Webhook targets must pass the SSRF guard: this run's operator allows 127.0.0.1 (port 9 answers nothing). */
const HOOK_URL = 'http://127.0.0.1:9/hook';
async function createWebhook(tenant: string): Promise<string> {
  const r = await api(h, 'POST', `/v1/tenants/${tenant}/webhooks`, { json: { url: HOOK_URL } });
  expect(r.status, r.bytes.toString()).toBe(201);
  return r.body.id;
}
/** One key job runs per tenant: cancel tenant A's, if any, so a recipe's start never meets a 409. */
async function cancelKeyJobs(): Promise<void> {
  const list = await api(h, 'GET', `/v1/tenants/${A}/key-jobs`);
  for (const j of list.body.items.filter((x: { status: string }) => x.status === 'running'))
    await api(h, 'POST', `/v1/tenants/${A}/key-jobs/${j.id}/cancel`);
}
async function freshKeyJob(): Promise<string> {
  await cancelKeyJobs();
  const r = await api(h, 'POST', `/v1/tenants/${A}/key-jobs`, { json: { kind: 'rewrap' } });
  expect(r.status, r.bytes.toString()).toBe(202);
  return r.body.id;
}
/** A tenant of its own for each deletion recipe: deleting A or B would break every other test. */
let doomedTenants = 0;
async function doomedTenant(): Promise<string> {
  const id = `authz-doomed-${++doomedTenants}`;
  const r = await api(h, 'POST', '/v1/tenants', { json: { id, name: id, retention: 'P1D' } });
  expect(r.status, r.bytes.toString()).toBe(201);
  return id;
}
const SUCCESS: Record<string, () => Promise<Success>> = {
  'POST /v1/tenants': async () => ({
    status: 201,
    json: { id: `authz-new-${++newTenants}`, name: 'New', retention: 'P1D' },
  }),
  'GET /v1/tenants/{t}': async () => ({ status: 200 }),
  'PATCH /v1/tenants/{t}': async () => ({ status: 200, json: { name: 'Renamed' } }),
  'POST /v1/tenants/{t}/api-keys': async () => ({
    status: 201,
    json: { name: 'made-by-test', scopes: ['recordings:read'] },
  }),
  'GET /v1/tenants/{t}/api-keys': async () => ({ status: 200 }),
  'DELETE /v1/tenants/{t}/api-keys/{keyId}': async () => ({
    status: 204,
    params: { keyId: keyIdOf(await createKey(h, A, ['recordings:read'])) },
  }),
  'GET /v1/tenants/{t}/storage': async () => ({ status: 200 }),
  'GET /v1/tenants/{t}/storage/aws-setup': async () => ({ status: 200 }),
  'PUT /v1/tenants/{t}/storage': async () => ({ status: 200, json: { provider: 'local' } }),
  'POST /v1/tenants/{t}/retention/run': async () => ({ status: 200 }),
  'GET /v1/tenants/{t}/audit': async () => ({ status: 200 }),
  'POST /v1/tenants/{t}/key-jobs': async () => {
    await cancelKeyJobs();
    return { status: 202, json: { kind: 'rewrap' } };
  },
  'GET /v1/tenants/{t}/key-jobs': async () => ({ status: 200 }),
  'GET /v1/tenants/{t}/key-jobs/{id}': async () => ({ status: 200, params: { id: await freshKeyJob() } }),
  'POST /v1/tenants/{t}/key-jobs/{id}/cancel': async () => ({
    status: 200,
    params: { id: await freshKeyJob() },
  }),
  'GET /v1/tenants/{t}/audit/export': async () => ({ status: 200 }),
  'GET /v1/tenants/{t}/audit/verify': async () => ({ status: 200 }),
  'GET /v1/tenants/{t}/key-usage': async () => ({ status: 200 }),
  'POST /v1/tenants/{t}/webhooks': async () => ({ status: 201, json: { url: HOOK_URL } }),
  'GET /v1/tenants/{t}/webhooks': async () => ({ status: 200 }),
  'DELETE /v1/tenants/{t}/webhooks/{webhookId}': async () => ({
    status: 204,
    params: { webhookId: await createWebhook(A) },
  }),
  'GET /v1/tenants/{t}/webhooks/{webhookId}/deliveries': async () => ({ status: 200 }),
  'POST /v1/tenants/{t}/webhooks/{webhookId}/ping': async () => ({ status: 202 }),
  'POST /v1/tenants/{t}/export': async () => ({ status: 202 }),
  'GET /v1/tenants/{t}/export/{exportId}': async () => {
    const r = await api(h, 'POST', `/v1/tenants/${A}/export`);
    expect(r.status, r.bytes.toString()).toBe(202);
    return { status: 200, params: { exportId: r.body.id } };
  },
  'DELETE /v1/tenants/{t}': async () => {
    const id = await doomedTenant();
    return { status: 202, params: { tenantId: id }, json: { confirm: id } };
  },
  'GET /v1/tenants/{t}/deletion-certificate': async () => {
    const id = await doomedTenant();
    const r = await api(h, 'DELETE', `/v1/tenants/${id}`, { json: { confirm: id } });
    expect(r.status, r.bytes.toString()).toBe(202);
    return { status: 200, params: { tenantId: id } };
  },
  'POST /v1/recordings': async () => ({ status: 202 }),
  'GET /v1/recordings': async () => ({ status: 200 }),
  'GET /v1/recordings/{id}': async () => ({ status: 200 }),
  'POST /v1/recordings/{id}/playback-link': async () => ({ status: 201, json: { ttlSeconds: 60 } }),
  'DELETE /v1/recordings/{id}': async () => ({ status: 202, params: { id: await storedRecording(A) } }),
  'PUT /v1/recordings/{id}/legal-hold': async () => ({ status: 200, json: { hold: false } }),
  'POST /v1/recordings/{id}/retry': async () => {
    const key = await keyFor(C, ALL_SCOPES);
    const r = await postRecording(h, key, AUDIO, { callId: 'authz-blocked' });
    expect(r.status).toBe(202);
    await waitForStatus(h, key, r.body.id, ['blocked']);
    return { status: 202, tenant: C, params: { tenantId: C, id: r.body.id } };
  },
};

beforeAll(async () => {
  h = await startHarness({ env: { CUSTODY_ALLOW_PRIVATE_ENDPOINTS: '127.0.0.1' } });
  await setupTenant(h, A);
  await setupTenant(h, B);
  expect((await api(h, 'POST', '/v1/tenants', { json: { id: C, name: C, retention: 'P1D' } })).status).toBe(
    201,
  );
  const [recA, recB] = await Promise.all([storedRecording(A), storedRecording(B)]);
  ownParams = {
    tenantId: A,
    id: recA,
    keyId: keyIdOf(await createKey(h, A, ['recordings:read'])),
    webhookId: await createWebhook(A),
    // Any well-formed id: only the success recipe needs a real export.
    exportId: 'exp_AAAAAAAAAAAAAAAA',
  };
  foreignParams = {
    tenantId: B,
    id: recB,
    keyId: keyIdOf(await createKey(h, B, ['recordings:read'])),
    webhookId: await createWebhook(B),
    exportId: 'exp_AAAAAAAAAAAAAAAA',
  };

  revokedKey = await createKey(h, A, ALL_SCOPES);
  expect((await api(h, 'DELETE', `/v1/tenants/${A}/api-keys/${keyIdOf(revokedKey)}`)).status).toBe(204);
  // Expiry is enforced against the stored expires_at: move it into the past in the database.
  expiredKey = await createKey(h, A, ALL_SCOPES, new Date(Date.now() + 3_600_000).toISOString());
  const moved = await h.ctx.db.query(
    "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1",
    [keyIdOf(expiredKey)],
  );
  expect(moved.rowCount).toBe(1);
});
afterAll(() => h?.close());

describe('the contract’s route × scope table matches allRoutes', () => {
  it('every protected route is in the contract table, and every table row is a route', () => {
    expect(protectedRoutes.map((r) => keyOf(r)).sort()).toEqual(Object.keys(CONTRACT_TABLE).sort());
  });

  it('each route’s access is the table’s scope and operator column', () => {
    for (const r of protectedRoutes) {
      const row = CONTRACT_TABLE[keyOf(r)]!;
      expect(accessRow(r.access), keyOf(r)).toEqual({
        scopes: [...row.scopes].sort(),
        operator: row.operator,
      });
    }
  });

  it('the public routes are exactly operations and playback', () => {
    const keys = publicRoutes.flatMap((r) => [keyOf(r), ...(r.head ? [keyOf(r, 'head')] : [])]);
    expect(keys.sort()).toEqual([...CONTRACT_PUBLIC].sort());
  });

  it('every route has a success recipe in this file', () => {
    expect(Object.keys(SUCCESS).sort()).toEqual(protectedRoutes.map((r) => keyOf(r)).sort());
  });
});

for (const route of protectedRoutes) {
  const name = keyOf(route);
  const { access } = route;
  if (access.kind === 'public') continue;
  const scopes: readonly string[] = access.kind === 'operator' ? [] : access.scopes;
  const lacking = ALL_SCOPES.filter((s) => !scopes.includes(s));
  const operatorAllowed = access.kind === 'operator' || access.kind === 'tenant';
  const tenantBound = access.kind === 'tenant' || access.kind === 'recording';

  describe(name, () => {
    it('no credentials → 401 UNAUTHENTICATED', async () => {
      expectProblem(await send(route, null, ownParams), 401, 'UNAUTHENTICATED');
    });

    if (route.body !== undefined && !('raw' in route.body)) {
      it('credentials are checked before the body is read', async () => {
        const path = fill(route, ownParams);
        const bodies = [
          { body: '{not json', headers: { 'content-type': 'application/json' } },
          { body: 'plain', headers: { 'content-type': 'text/plain' } },
        ];
        for (const b of bodies) {
          const anonymous = await api(h, route.method.toUpperCase(), path, { token: null, ...b });
          expectProblem(anonymous, 401, 'UNAUTHENTICATED');
          const token = await keyFor(A, access.kind === 'operator' ? ALL_SCOPES : lacking);
          expectProblem(await api(h, route.method.toUpperCase(), path, { token, ...b }), 403, 'FORBIDDEN');
        }
      });
    }

    it('unknown or malformed credentials → 401', async () => {
      const unknown = `ck_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
      for (const token of [unknown, 'not-a-key', `${ADMIN_TOKEN}x`])
        expectProblem(await send(route, token, ownParams), 401, 'UNAUTHENTICATED');
    });

    it('a revoked key (all scopes) → 401', async () => {
      expectProblem(await send(route, revokedKey, ownParams), 401, 'UNAUTHENTICATED');
    });

    it('an expired key (all scopes) → 401', async () => {
      expectProblem(await send(route, expiredKey, ownParams), 401, 'UNAUTHENTICATED');
    });

    it(`a key of the tenant lacking ${scopes.join('|') || 'operator rights'} → 403 FORBIDDEN`, async () => {
      const key = await keyFor(A, access.kind === 'operator' ? ALL_SCOPES : lacking);
      expectProblem(await send(route, key, ownParams), 403, 'FORBIDDEN');
    });

    if (tenantBound) {
      it('another tenant’s key (all scopes, or lacking the scope) → 404, both ways', async () => {
        for (const key of [await keyFor(B, ALL_SCOPES), await keyFor(B, lacking)])
          expectProblem(await send(route, key, ownParams), 404, 'NOT_FOUND');
        for (const key of [await keyFor(A, ALL_SCOPES), await keyFor(A, lacking)])
          expectProblem(await send(route, key, foreignParams), 404, 'NOT_FOUND');
      });
    }

    if (!operatorAllowed) {
      it('the operator → 403 FORBIDDEN', async () => {
        expectProblem(await send(route, ADMIN_TOKEN, ownParams), 403, 'FORBIDDEN');
      });
    }

    const allowed = [...(operatorAllowed ? ['operator'] : []), ...scopes];
    for (const who of allowed) {
      it(`${who === 'operator' ? 'the operator' : `a key with only ${who}`} is authorized`, async () => {
        const recipe = SUCCESS[name];
        if (!recipe) throw new Error(`no success recipe for ${name}`);
        const s = await recipe();
        const token = who === 'operator' ? ADMIN_TOKEN : await keyFor(s.tenant ?? A, [who]);
        const res = await send(route, token, { ...ownParams, ...s.params }, s.json);
        expect([401, 403, 404], res.bytes.toString()).not.toContain(res.status);
        expect(res.status, res.bytes.toString()).toBe(s.status);
      });
    }
  });
}

describe('public routes', () => {
  it('answer without credentials, and a signed link is its own credential', async () => {
    const link = await api(h, 'POST', `/v1/recordings/${ownParams.id}/playback-link`, {
      token: await keyFor(A, ['recordings:read']),
      json: {},
    });
    expect(link.status).toBe(201);
    const token = new URL(link.body.url).pathname.split('/').pop()!;
    for (const route of publicRoutes) {
      const path = fill(route, { token });
      for (const method of ['GET', ...(route.head ? ['HEAD'] : [])]) {
        const res = await api(h, method, path, { token: null });
        expect(res.status, `${method} ${route.path}`).toBe(200);
      }
    }
    // A bad link is the link's own 401, not a request for credentials.
    const tampered = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    expectProblem(await api(h, 'GET', `/v1/playback/${tampered}`, { token: null }), 401, 'LINK_INVALID');
  });
});
