import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiResponse, api, setupTenant } from '../support/client.js';
import { type Harness, startHarness } from '../support/harness.js';
import { expectProblem, spoolFiles, until, writtenState } from './contract-helpers.js';

/**
 * Ingest rejections: each answers a problem document with a stable code and leaves
 * nothing behind — no row, no spool file, no idempotency claim, no audit entry.
 */
const MAX = 1024;
const QUOTA = 8 * 1024;

let h: Harness;
let key: string;
const seen: number[] = [];

const snapshot = () => writtenState(h);

function ingest(
  o: { query?: string; body?: Buffer; headers?: Record<string, string>; token?: string } = {},
): Promise<ApiResponse> {
  return api(h, 'POST', `/v1/recordings${o.query ?? '?callId=call-1'}`, {
    token: o.token ?? key,
    body: o.body ?? randomBytes(100),
    headers: o.headers ?? { 'content-type': 'audio/wav' },
  }).then((r) => {
    seen.push(r.status);
    return r;
  });
}

/** A body sent chunked, without Content-Length, through fetch's streaming upload. */
async function ingestChunked(token: string, chunks: Buffer[]): Promise<ApiResponse> {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(new Uint8Array(c));
      controller.close();
    },
  });
  const init = {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'audio/wav' },
    body: stream,
    duplex: 'half',
  } as RequestInit;
  const res = await fetch(`${h.url}/v1/recordings?callId=chunked`, init);
  const bytes = Buffer.from(await res.arrayBuffer());
  seen.push(res.status);
  const body = /json/.test(res.headers.get('content-type') ?? '') ? JSON.parse(bytes.toString()) : undefined;
  return { status: res.status, headers: res.headers, body, bytes };
}

beforeAll(async () => {
  // No workers: whatever is accepted stays spooled, so only the rejected request can change things.
  h = await startHarness({
    workers: false,
    env: { CUSTODY_MAX_RECORDING_BYTES: String(MAX), CUSTODY_SPOOL_QUOTA_BYTES: String(QUOTA) },
  });
  ({ key } = await setupTenant(h, 'bad-input', ['recordings:write']));
});
afterAll(() => h?.close());

const long = (n: number) => 'x'.repeat(n);
const CASES: {
  name: string;
  status: number;
  code: string;
  send: () => Promise<ApiResponse>;
}[] = [
  {
    name: 'no Content-Type',
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    send: () => ingest({ headers: {} }),
  },
  {
    name: 'text/plain',
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    send: () => ingest({ headers: { 'content-type': 'text/plain' } }),
  },
  {
    name: 'application/octet-stream',
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    send: () => ingest({ headers: { 'content-type': 'application/octet-stream' } }),
  },
  {
    name: 'an empty body',
    status: 400,
    code: 'EMPTY_BODY',
    send: () => ingest({ body: Buffer.alloc(0) }),
  },
  {
    name: 'one byte over the maximum, with Content-Length',
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    send: () => ingest({ body: randomBytes(MAX + 1) }),
  },
  {
    name: 'far over the maximum, with Content-Length',
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    send: () => ingest({ body: randomBytes(64 * 1024) }),
  },
  {
    name: 'over the maximum, chunked without Content-Length',
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    send: () => ingestChunked(key, [randomBytes(600), randomBytes(600), randomBytes(600)]),
  },
  { name: 'no callId', status: 400, code: 'VALIDATION_FAILED', send: () => ingest({ query: '' }) },
  {
    name: 'an empty callId',
    status: 400,
    code: 'VALIDATION_FAILED',
    send: () => ingest({ query: '?callId=' }),
  },
  {
    name: 'a callId of 129 characters',
    status: 400,
    code: 'VALIDATION_FAILED',
    send: () => ingest({ query: `?callId=${long(129)}` }),
  },
  {
    name: 'a bad direction',
    status: 400,
    code: 'VALIDATION_FAILED',
    send: () => ingest({ query: '?callId=c&direction=sideways' }),
  },
  {
    name: 'a startedAt that is not a time',
    status: 400,
    code: 'VALIDATION_FAILED',
    send: () => ingest({ query: '?callId=c&startedAt=yesterday' }),
  },
  {
    name: 'an Idempotency-Key of 129 characters',
    status: 400,
    code: 'VALIDATION_FAILED',
    send: () => ingest({ headers: { 'content-type': 'audio/wav', 'idempotency-key': long(129) } }),
  },
];

describe('ingest rejections leave nothing behind', () => {
  for (const c of CASES) {
    it(`${c.name} → ${c.status} ${c.code}`, async () => {
      const before = await snapshot();
      expectProblem(await c.send(), c.status, c.code);
      expect(await snapshot()).toEqual(before);
    });
  }

  it('the limits are exact: MAX bytes and a 128-character callId are accepted', async () => {
    const before = await snapshot();
    const atMax = await ingest({ body: randomBytes(MAX) });
    expect(atMax.status, atMax.bytes.toString()).toBe(202);
    expect(atMax.body.size).toBe(MAX);
    const chunked = await ingestChunked(key, [randomBytes(500), randomBytes(524)]);
    expect(chunked.status, chunked.bytes.toString()).toBe(202);
    const longId = await ingest({ query: `?callId=${long(128)}&direction=inbound` });
    expect(longId.status, longId.bytes.toString()).toBe(202);
    expect(longId.body).toMatchObject({ callId: long(128), direction: 'inbound' });
    const after = await snapshot();
    expect(after.recordings).toBe(before.recordings + 3);
    expect(after.spool).toHaveLength(before.spool.length + 3);
  });
});

describe('the tenant spool quota', () => {
  it('once full, the next recording is 429 SPOOL_QUOTA_EXCEEDED and nothing is written', async () => {
    const { key: quotaKey } = await setupTenant(h, 'quota-full', ['recordings:write']);
    // Large recordings until one no longer fits, then one-byte ones until not even those do.
    let accepted = 0;
    for (const size of [MAX, 1]) {
      let rejection: ApiResponse | undefined;
      for (let i = 0; i < 64 && !rejection; i++) {
        const before = await snapshot();
        const r = await ingest({ token: quotaKey, body: randomBytes(size) });
        if (r.status === 202) accepted += 1;
        else {
          rejection = r;
          expect(await snapshot()).toEqual(before);
        }
      }
      expect(rejection, `a ${size}-byte recording was rejected`).toBeDefined();
      expectProblem(rejection!, 429, 'SPOOL_QUOTA_EXCEEDED');
    }
    expect(accepted).toBeGreaterThan(1);

    const before = await snapshot();
    for (const send of [
      () => ingest({ token: quotaKey, body: randomBytes(1) }),
      () => ingestChunked(quotaKey, [randomBytes(1)]),
    ])
      expectProblem(await send(), 429, 'SPOOL_QUOTA_EXCEEDED');
    expect(await snapshot()).toEqual(before);
    const spooled = await h.ctx.db.query<{ n: string }>(
      "SELECT sum(spool_bytes)::text AS n FROM recordings WHERE tenant_id = 'quota-full'",
    );
    expect(Number(spooled.rows[0]!.n)).toBeLessThanOrEqual(QUOTA + MAX);
  });

  it('is per tenant: another tenant still ingests', async () => {
    const { key: other } = await setupTenant(h, 'quota-other', ['recordings:write']);
    expect((await ingest({ token: other })).status).toBe(202);
  });
});

describe('a client that disconnects mid-upload', () => {
  it('leaves no partial spool file and no row', async () => {
    const before = await snapshot();
    const url = new URL('/v1/recordings?callId=gone', h.url);
    const req = http.request(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'audio/wav',
        'transfer-encoding': 'chunked',
      },
    });
    const outcome = new Promise<string>((resolve) => {
      req.on('error', (err) => resolve(`error ${err.message}`));
      req.on('response', (res) => resolve(`response ${res.statusCode}`));
    });
    req.write(randomBytes(500));
    // The server is receiving once the partial spool file exists.
    await until('an .incoming spool file', async () =>
      (await spoolFiles(h)).some((f) => f.endsWith('.incoming')),
    );
    req.destroy();
    expect(await outcome).toMatch(/^error/);

    await until('the server to clean up', async () => {
      const files = await spoolFiles(h);
      return !files.some((f) => f.endsWith('.incoming')) && files.length === before.spool.length;
    });
    expect(await snapshot()).toEqual(before);
    // And the service still answers.
    expect((await ingest()).status).toBe(202);
  });
});

describe('no 5xx', () => {
  it('appeared for any request of this file', () => {
    expect(seen.length).toBeGreaterThan(CASES.length);
    expect(seen.filter((s) => s >= 500)).toEqual([]);
  });
});
