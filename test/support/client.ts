import { setTimeout as delay } from 'node:timers/promises';
import type { Harness } from './harness.js';
import { ADMIN_TOKEN } from './harness.js';

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  bytes: Buffer;
}

export interface RequestOptions {
  token?: string | null;
  json?: unknown;
  body?: Buffer | string;
  headers?: Record<string, string>;
}

/** A thin fetch wrapper: operator token by default, JSON in and out, raw bytes kept. */
export async function api<T = any>(
  h: Harness,
  method: string,
  path: string,
  o: RequestOptions = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  const token = o.token === undefined ? ADMIN_TOKEN : o.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: Buffer | string | undefined = o.body;
  if (o.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(o.json);
  }
  const res = await fetch(path.startsWith('http') ? path : `${h.url}${path}`, { method, headers, body });
  const bytes = Buffer.from(await res.arrayBuffer());
  const type = res.headers.get('content-type') ?? '';
  // JSON and `+json` documents; not JSON Lines (`application/x-ndjson`), which is many documents.
  const parsed = /[/+]json\b/.test(type) && bytes.length ? JSON.parse(bytes.toString('utf8')) : undefined;
  return { status: res.status, headers: res.headers, body: parsed as T, bytes };
}

export const ALL_SCOPES = ['tenant:admin', 'recordings:write', 'recordings:read', 'recordings:delete'];

/** A tenant with local storage registered and one API key holding `scopes`. */
export async function setupTenant(
  h: Harness,
  tenantId: string,
  scopes: string[] = ALL_SCOPES,
  retention = 'P30D',
): Promise<{ tenantId: string; key: string }> {
  const t = await api(h, 'POST', '/v1/tenants', { json: { id: tenantId, name: tenantId, retention } });
  if (t.status !== 201) throw new Error(`create tenant: ${t.status} ${t.bytes}`);
  const s = await api(h, 'PUT', `/v1/tenants/${tenantId}/storage`, { json: { provider: 'local' } });
  if (s.status !== 200) throw new Error(`register storage: ${s.status} ${s.bytes}`);
  return { tenantId, key: await createKey(h, tenantId, scopes) };
}

export async function createKey(
  h: Harness,
  tenantId: string,
  scopes: string[],
  expiresAt?: string,
): Promise<string> {
  const k = await api(h, 'POST', `/v1/tenants/${tenantId}/api-keys`, {
    json: { name: 'test', scopes, ...(expiresAt ? { expiresAt } : {}) },
  });
  if (k.status !== 201) throw new Error(`create key: ${k.status} ${k.bytes}`);
  return k.body.key;
}

export async function postRecording(
  h: Harness,
  key: string,
  audio: Buffer,
  o: { callId?: string; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  return api(h, 'POST', `/v1/recordings?callId=${encodeURIComponent(o.callId ?? 'call-1')}`, {
    token: key,
    body: audio,
    headers: { 'content-type': 'audio/wav', ...(o.headers ?? {}) },
  });
}

/** Polls until the recording reaches one of `statuses` (the API is the only signal a client has). */
export async function waitForStatus(
  h: Harness,
  key: string,
  id: string,
  statuses: string[],
  timeoutMs = 30_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await api(h, 'GET', `/v1/recordings/${id}`, { token: key });
    if (statuses.includes(r.body?.status)) return r.body;
    if (Date.now() > deadline)
      throw new Error(`recording ${id} is ${r.body?.status}, wanted ${statuses.join('|')}`);
    await delay(50);
  }
}
