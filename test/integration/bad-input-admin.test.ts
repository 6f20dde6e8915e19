import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiResponse, api, postRecording, setupTenant } from '../support/client.js';
import { type Harness, startHarness } from '../support/harness.js';

const TENANT_GUID = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT_GUID = '11111111-2222-3333-4444-555555555555';
import { countRows, expectProblem } from './contract-helpers.js';

/** Bad JSON and bad values on the admin and management routes: always a 4xx problem, never a 5xx. */
let h: Harness;
let key: string;
let queuedId: string;
const seen: number[] = [];

interface Call {
  method?: string;
  path: string;
  json?: unknown;
  body?: string;
  headers?: Record<string, string>;
  asKey?: boolean;
}

async function call(c: Call): Promise<ApiResponse> {
  const r = await api(h, c.method ?? 'POST', c.path, {
    ...(c.asKey ? { token: key } : {}),
    ...(c.json !== undefined ? { json: c.json } : {}),
    ...(c.body !== undefined ? { body: c.body } : {}),
    ...(c.headers ? { headers: c.headers } : {}),
  });
  seen.push(r.status);
  return r;
}

beforeAll(async () => {
  // No workers: the recording stays queued, so a playback link that passes validation is 409.
  h = await startHarness({ workers: false });
  ({ key } = await setupTenant(h, 'admin-bad'));
  const posted = await postRecording(h, key, randomBytes(256));
  expect(posted.status).toBe(202);
  queuedId = posted.body.id;
});
afterAll(() => h?.close());

const tenant = (o: Record<string, unknown>) => ({
  id: 'fresh-tenant',
  name: 'Fresh',
  retention: 'P90D',
  ...o,
});
const json = (body: string, type = 'application/json') => ({ body, headers: { 'content-type': type } });

const CASES: { name: string; status: number; code: string; call: () => Call }[] = [
  {
    name: 'invalid JSON',
    status: 400,
    code: 'INVALID_JSON',
    call: () => ({ path: '/v1/tenants', ...json('{"id":') }),
  },
  {
    name: 'JSON that is not an object',
    status: 400,
    code: 'VALIDATION_FAILED',
    call: () => ({ path: '/v1/tenants', ...json('[1,2]') }),
  },
  {
    name: 'a JSON body sent as text/plain',
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    call: () => ({ path: '/v1/tenants', ...json(JSON.stringify(tenant({})), 'text/plain') }),
  },
  {
    name: 'a JSON body sent as form data',
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    call: () => ({ path: '/v1/tenants', ...json('id=x', 'application/x-www-form-urlencoded') }),
  },
  {
    name: 'an unknown field',
    status: 400,
    code: 'VALIDATION_FAILED',
    call: () => ({ path: '/v1/tenants', json: tenant({ owner: 'someone' }) }),
  },
  {
    name: 'a missing name',
    status: 400,
    code: 'VALIDATION_FAILED',
    call: () => ({ path: '/v1/tenants', json: { id: 'no-name', retention: 'P1D' } }),
  },
  ...['UPPER', 'ab', '-abc', 'abc-', 'a_b', 'a.b', '../etc', 'x'.repeat(64), '', 'ąbc'].map((id) => ({
    name: `tenant id ${JSON.stringify(id.length > 20 ? `${id.slice(0, 8)}…(${id.length})` : id)}`,
    status: 400,
    code: 'VALIDATION_FAILED',
    call: () => ({ path: '/v1/tenants', json: tenant({ id }) }),
  })),
  {
    name: 'a duplicate tenant',
    status: 409,
    code: 'CONFLICT',
    call: () => ({ path: '/v1/tenants', json: tenant({ id: 'admin-bad' }) }),
  },
  ...['90 days', 'P', 'PT', 'P0D', '-P1D', 'P1.5D', 'p90d', '', 'PT99999999999999H'].map((retention) => ({
    name: `retention ${JSON.stringify(retention)}`,
    status: 400,
    code: 'VALIDATION_FAILED',
    call: () => ({ path: '/v1/tenants', json: tenant({ id: 'retention-bad', retention }) }),
  })),
  {
    name: 'PATCH with neither name nor retention',
    status: 400,
    code: 'VALIDATION_FAILED',
    call: () => ({ method: 'PATCH', path: '/v1/tenants/admin-bad', json: {} }),
  },
  {
    name: 'PATCH with a bad retention',
    status: 400,
    code: 'VALIDATION_FAILED',
    call: () => ({ method: 'PATCH', path: '/v1/tenants/admin-bad', json: { retention: 'forever' } }),
  },
  {
    name: 'PATCH of the id',
    status: 400,
    code: 'VALIDATION_FAILED',
    call: () => ({ method: 'PATCH', path: '/v1/tenants/admin-bad', json: { id: 'other' } }),
  },
  {
    name: 'an invalid tenant id in the path',
    status: 400,
    code: 'VALIDATION_FAILED',
    call: () => ({ method: 'GET', path: '/v1/tenants/NOT_VALID' }),
  },
  {
    name: 'a missing tenant',
    status: 404,
    code: 'NOT_FOUND',
    call: () => ({ method: 'GET', path: '/v1/tenants/no-such-tenant' }),
  },
  ...[
    { scopes: [] },
    { scopes: ['root'] },
    { scopes: 'tenant:admin' },
    { scopes: ['recordings:read'], expiresAt: '2001-01-01T00:00:00Z' },
    { scopes: ['recordings:read'], expiresAt: 'tomorrow' },
    { scopes: ['recordings:read'], secret: 'mine' },
  ].map((body) => ({
    name: `API key ${JSON.stringify(body)}`,
    status: 400,
    code: 'VALIDATION_FAILED',
    call: () => ({ path: '/v1/tenants/admin-bad/api-keys', json: { name: 'k', ...body } }),
  })),
  {
    name: 'revoking a missing key',
    status: 404,
    code: 'NOT_FOUND',
    call: () => ({ method: 'DELETE', path: '/v1/tenants/admin-bad/api-keys/0123456789abcdef' }),
  },
  ...[
    { provider: 'local', path: '../escape' },
    { provider: 'local', path: 'a/b' },
    { provider: 'nope' },
    {},
    // s3: each field wrong in turn (nothing is called before validation passes).
    ...(
      [
        { bucket: 'Bad_Bucket' },
        { bucket: '192.168.0.1' },
        { bucket: 'ab' },
        { region: '' },
        { prefix: '/abs' },
        { prefix: 'a/../b' },
        { prefix: 'wild*card' },
        { roleArn: 'arn:aws:iam::123:role/x' },
        { roleArn: 'arn:aws:iam::111122223333:user/bob' },
        { kmsKeyArn: 'alias/recordings' },
        { kmsKeyArn: 'arn:aws:kms:us-east-1:111122223333:alias/recordings' },
        { forcePathStyle: 'yes' },
        { checksumMode: 'never' },
        { objectLock: { mode: 'governance' } },
        { objectLock: { mode: 'LEGAL_HOLD' } },
        { objectLock: {} },
        { objectLock: true },
        { objectLock: { mode: 'COMPLIANCE', days: 30 } },
        { objectLock: { mode: 'GOVERNANCE' }, checksumMode: 'when-required' },
        { endpoint: 42 },
        { accessKeyId: 'AKIA...' },
        { bucket: undefined },
        { kmsKeyArn: undefined },
      ] as Record<string, unknown>[]
    ).map((change) => ({
      provider: 's3',
      bucket: 'tenant-recordings',
      region: 'eu-west-1',
      roleArn: 'arn:aws:iam::111122223333:role/custody',
      kmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      ...change,
    })),
    // azure-blob: each field wrong in turn.
    ...(
      [
        { accountUrl: 'not a url' },
        { accountUrl: 'ftp://acct.blob.core.windows.net' },
        { container: 'Recordings' },
        { container: 'a--b' },
        { prefix: 'x/*' },
        { keyId: 'https://kv.vault.azure.net/secrets/k' },
        { keyId: 'https://kv.vault.azure.net/keys/k/not-a-version' },
        { credential: { entraTenantId: TENANT_GUID, clientId: CLIENT_GUID } },
        {
          credential: {
            entraTenantId: TENANT_GUID,
            clientId: CLIENT_GUID,
            clientSecret: 's',
            clientCertificatePem: '-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----',
          },
        },
        { credential: { entraTenantId: TENANT_GUID, clientId: 'app', clientSecret: 's' } },
        { credential: { entraTenantId: 'not a tenant', clientId: CLIENT_GUID, clientSecret: 's' } },
        { credential: { entraTenantId: TENANT_GUID, clientId: CLIENT_GUID, clientCertificatePem: 'no pem' } },
        { credential: { entraTenantId: TENANT_GUID, clientId: CLIENT_GUID, clientSecret: 's', extra: 1 } },
        { sasToken: 'sv=...' },
        { immutability: { mode: 'Mutable' } },
        { immutability: { mode: 'locked' } },
        { immutability: 'Locked' },
        { immutability: { mode: 'Locked', until: '2030-01-01' } },
      ] as Record<string, unknown>[]
    ).map((change) => ({
      provider: 'azure-blob',
      accountUrl: 'https://acct.blob.core.windows.net',
      container: 'recordings',
      keyId: 'https://kv.vault.azure.net/keys/recordings',
      credential: { entraTenantId: TENANT_GUID, clientId: CLIENT_GUID, clientSecret: 'secret' },
      ...change,
    })),
  ].map((body) => ({
    name: `storage ${JSON.stringify(body)}`,
    status: 400,
    code: 'VALIDATION_FAILED',
    call: () => ({ method: 'PUT', path: '/v1/tenants/admin-bad/storage', json: body }),
  })),
  ...[0, 86401, -1, 1.5, '60', null].map((ttlSeconds) => ({
    name: `playback-link ttlSeconds ${JSON.stringify(ttlSeconds)}`,
    status: 400,
    code: 'VALIDATION_FAILED',
    call: () => ({ path: `/v1/recordings/${queuedId}/playback-link`, json: { ttlSeconds }, asKey: true }),
  })),
  {
    name: 'legal hold without a boolean',
    status: 400,
    code: 'VALIDATION_FAILED',
    call: () => ({
      method: 'PUT',
      path: `/v1/recordings/${queuedId}/legal-hold`,
      json: { hold: 'yes' },
      asKey: true,
    }),
  },
  ...['from=yesterday', 'to=2020-13-01', 'cursor=abc', 'limit=0', 'limit=1001'].map((q) => ({
    name: `audit ?${q}`,
    status: 400,
    code: 'VALIDATION_FAILED',
    call: () => ({ method: 'GET', path: `/v1/tenants/admin-bad/audit?${q}` }),
  })),
  ...['limit=101', 'limit=0', 'status=lost', `callId=${'c'.repeat(129)}`].map((q) => ({
    name: `recordings list ?${q}`,
    status: 400,
    code: 'VALIDATION_FAILED',
    call: () => ({ method: 'GET', path: `/v1/recordings?${q}`, asKey: true }),
  })),
  {
    name: 'recordings list with a forged cursor',
    status: 400,
    code: 'VALIDATION_FAILED',
    call: () => ({ method: 'GET', path: '/v1/recordings?cursor=bm90LWpzb24', asKey: true }),
  },
  {
    name: 'an unknown endpoint',
    status: 404,
    code: 'NOT_FOUND',
    call: () => ({ method: 'GET', path: '/v1/nothing-here' }),
  },
];

describe('bad input on admin and management routes', () => {
  for (const c of CASES) {
    it(`${c.name} → ${c.status} ${c.code}`, async () => {
      const tenants = await countRows(h, 'tenants');
      const keys = await countRows(h, 'api_keys');
      const links = await countRows(h, 'playback_links');
      expectProblem(await call(c.call()), c.status, c.code);
      expect(await countRows(h, 'tenants')).toBe(tenants);
      expect(await countRows(h, 'api_keys')).toBe(keys);
      expect(await countRows(h, 'playback_links')).toBe(links);
    });
  }

  it('the boundaries are accepted: ttlSeconds 1 and 86400 pass validation (the queued recording is 409)', async () => {
    for (const ttlSeconds of [1, 86400])
      expectProblem(
        await call({ path: `/v1/recordings/${queuedId}/playback-link`, json: { ttlSeconds }, asKey: true }),
        409,
        'NOT_PLAYABLE',
      );
  });

  it('valid tenant ids and retentions at the edges are accepted', async () => {
    for (const [id, retention] of [
      ['abc', 'PT1S'],
      ['x'.repeat(63), 'P1M'],
      ['0-0', 'P1Y2M10DT2H30M'],
    ] as const) {
      const r = await call({ path: '/v1/tenants', json: { id, name: id, retention } });
      expect(r.status, r.bytes.toString()).toBe(201);
      expect(r.body).toMatchObject({ id, retention });
    }
  });

  it('no 5xx appeared', () => {
    expect(seen.length).toBeGreaterThan(CASES.length);
    expect(seen.filter((s) => s >= 500)).toEqual([]);
  });
});
