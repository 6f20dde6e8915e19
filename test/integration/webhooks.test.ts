import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from '../../src/webhooks/signature.js';
import { ALL_SCOPES, api, createKey, postRecording, setupTenant, waitForStatus } from '../support/client.js';
import { type Harness, startHarness } from '../support/harness.js';
import { auditEntries, waitUntil } from '../support/observe.js';
import {
  type ReceivedWebhook,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../support/webhook-receiver.js';
import { countRows, expectProblem } from './contract-helpers.js';

/**
 * Webhooks end to end: a receiver on 127.0.0.1 (allowed by the operator for this run)
 * gets the tenant's audit events, signed; retries, ordering, the delivery log, the SSRF
 * guard, bad input and tenant isolation are checked through the API.
 */
const T = 'wh-tenant';
const OTHER = 'wh-other';
const AUDIO = randomBytes(4096);
const ALL_EVENTS = [
  'recording.stored',
  'recording.blocked',
  'recording.failed',
  'recording.deleted',
  'key.unavailable',
  'key.pending_deletion',
  'key.healthy',
  'storage.activated',
  'tenant.deleted',
];

let h: Harness;
let rx: WebhookReceiver;
let key: string;
const secrets: string[] = [];

async function createWebhook(path: string, events?: string[], tenant = T, token?: string) {
  const res = await api(h, 'POST', `/v1/tenants/${tenant}/webhooks`, {
    ...(token ? { token } : {}),
    json: { url: `${rx.url}${path}`, ...(events ? { events } : {}) },
  });
  expect(res.status, res.bytes.toString()).toBe(201);
  secrets.push(res.body.secret);
  return res.body as { id: string; url: string; events: string[]; secret: string };
}

const deliveries = async (id: string, tenant = T) => {
  const res = await api(h, 'GET', `/v1/tenants/${tenant}/webhooks/${id}/deliveries`);
  expect(res.status).toBe(200);
  return res.body.items as any[];
};

/** The documented algorithm, written out here rather than trusting the exported helper alone. */
function expectSigned(w: ReceivedWebhook, secret: string, webhookId: string) {
  const ts = String(w.headers['custody-timestamp']);
  expect(Math.abs(Date.now() / 1000 - Number(ts))).toBeLessThan(300);
  const expected = createHmac('sha256', secret).update(`${ts}.`).update(w.raw).digest();
  const given = String(w.headers['custody-signature']);
  expect(given).toMatch(/^v1=[0-9a-f]{64}$/);
  expect(timingSafeEqual(expected, Buffer.from(given.slice(3), 'hex'))).toBe(true);
  expect(verifyWebhookSignature(secret, w.headers, w.raw)).toMatchObject({ valid: true });
  // Replayed later, or with a byte changed, it is refused.
  expect(verifyWebhookSignature(secret, w.headers, w.raw, Date.now() + 301_000)).toEqual({
    valid: false,
    reason: 'stale-timestamp',
  });
  expect(verifyWebhookSignature(secret, w.headers, Buffer.concat([w.raw, Buffer.from(' ')]))).toEqual({
    valid: false,
    reason: 'bad-signature',
  });
  expect(w.headers['custody-webhook-id']).toBe(webhookId);
  expect(w.headers['custody-event-id']).toBe(w.body.id);
  expect(w.headers['content-type']).toBe('application/json');
}

beforeAll(async () => {
  h = await startHarness({
    env: {
      CUSTODY_ALLOW_PRIVATE_ENDPOINTS: '127.0.0.1',
      CUSTODY_WEBHOOK_INTERVAL_SECONDS: '1',
      CUSTODY_WEBHOOK_RETRY_BASE_SECONDS: '0.5',
    },
  });
  rx = await startWebhookReceiver();
  const t = await api(h, 'POST', '/v1/tenants', { json: { id: T, name: T, retention: 'P30D' } });
  expect(t.status).toBe(201);
  await setupTenant(h, OTHER);
});
afterAll(async () => {
  await h?.close();
  await rx?.close();
});

describe('webhooks', () => {
  let all: Awaited<ReturnType<typeof createWebhook>>;
  let deletedOnly: Awaited<ReturnType<typeof createWebhook>>;
  let recordingId: string;

  it('delivers storage.activated, recording.stored and recording.deleted in order, each signed', async () => {
    all = await createWebhook('/all');
    expect(all).toMatchObject({ url: `${rx.url}/all`, events: ALL_EVENTS });
    expect(all.id).toMatch(/^wh_/);
    expect(all.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    deletedOnly = await createWebhook('/deleted-only', ['recording.deleted']);

    // Storage registered after the endpoints: its activation is a future event.
    expect((await api(h, 'PUT', `/v1/tenants/${T}/storage`, { json: { provider: 'local' } })).status).toBe(
      200,
    );
    key = await createKey(h, T, ALL_SCOPES);
    const posted = await postRecording(h, key, AUDIO, { callId: 'wh-call' });
    expect(posted.status).toBe(202);
    recordingId = posted.body.id;
    await waitForStatus(h, key, recordingId, ['stored']);
    expect((await api(h, 'DELETE', `/v1/recordings/${recordingId}`, { token: key })).status).toBe(202);
    await waitForStatus(h, key, recordingId, ['deleted']);

    await waitUntil('three deliveries', async () => rx.on('/all').length >= 3);
    const got = rx.on('/all');
    expect(got.map((w) => w.body.type)).toEqual([
      'storage.activated',
      'recording.stored',
      'recording.deleted',
    ]);
    const audit = await auditEntries(h, T);
    for (const w of got) {
      expectSigned(w, all.secret, all.id);
      const seq = Number(w.body.id.split(':')[1]);
      const entry = audit.find((e) => e.seq === seq);
      // The body is the audit entry, as documented.
      expect(w.body).toEqual({
        id: `${T}:${seq}`,
        type: entry.action,
        tenantId: T,
        occurredAt: entry.at,
        target: entry.target,
        data: entry.detail,
      });
    }
    expect(got[0]!.body).toMatchObject({ target: `tenant:${T}`, data: { version: 1, provider: 'local' } });
    expect(got[1]!.body.target).toBe(`recording:${recordingId}`);
    expect(got[2]!.body.target).toBe(`recording:${recordingId}`);

    const log = await deliveries(all.id);
    expect(log.map((d) => d.type)).toEqual(['recording.deleted', 'recording.stored', 'storage.activated']);
    for (const d of log) {
      expect(d).toMatchObject({ status: 'delivered', attempts: 1, lastHttpStatus: 200, lastError: null });
      expect(d.eventId).toBe(`${T}:${d.seq}`);
    }
  });

  it('sends only the events an endpoint subscribed to', async () => {
    await waitUntil('the deleted-only delivery', async () => (await deliveries(deletedOnly.id)).length === 1);
    const log = await deliveries(deletedOnly.id);
    expect(log).toMatchObject([{ type: 'recording.deleted', status: 'delivered' }]);
    const got = rx.on('/deleted-only');
    expect(got.map((w) => w.body.type)).toEqual(['recording.deleted']);
    expectSigned(got[0]!, deletedOnly.secret, deletedOnly.id);
    // Unsubscribed actions (recording.received, api-key.created, …) never went anywhere.
    expect(rx.received.every((w) => ALL_EVENTS.includes(w.body.type))).toBe(true);
  });

  it('retries a receiver answering 500 twice, delivers on the third attempt, and logs all three', async () => {
    const flaky = await createWebhook('/flaky', ['storage.activated']);
    rx.respond('/flaky', [500, 500]);
    const ping = await api(h, 'POST', `/v1/tenants/${T}/webhooks/${flaky.id}/ping`);
    expect(ping.status).toBe(202);
    expect(ping.body.eventId).toMatch(new RegExp(`^${T}:\\d+$`));

    const [d] = await waitUntil('the ping delivered', async () => {
      const log = await deliveries(flaky.id);
      return log[0]?.status === 'delivered' ? log : undefined;
    });
    expect(d).toMatchObject({
      eventId: ping.body.eventId,
      type: 'webhook.ping',
      status: 'delivered',
      attempts: 3,
      lastHttpStatus: 200,
      lastError: null,
    });
    const got = rx.on('/flaky');
    expect(got).toHaveLength(3);
    for (const w of got) {
      expectSigned(w, flaky.secret, flaky.id);
      expect(w.body).toMatchObject({ id: ping.body.eventId, type: 'webhook.ping', tenantId: T });
    }
    // Backoff: the retries are spaced out, the second gap longer than the first.
    expect(got[1]!.at - got[0]!.at).toBeGreaterThanOrEqual(400);
    expect(got[2]!.at - got[1]!.at).toBeGreaterThanOrEqual(900);
    const metrics = await h.ctx.metrics.registry.getSingleMetricAsString('custody_webhook_deliveries_total');
    expect(metrics).toMatch(/outcome="retry"} [1-9]/);
    expect(metrics).toMatch(/outcome="delivered"} [1-9]/);
  });

  it('holds later events back while an earlier one is retried: the receiver sees them in order', async () => {
    const ordered = await createWebhook('/ordered', ['recording.stored']);
    rx.respond('/ordered', [503]);
    const ids: string[] = [];
    for (const callId of ['order-1', 'order-2']) {
      const r = await postRecording(h, key, AUDIO, { callId });
      expect(r.status).toBe(202);
      ids.push(r.body.id);
      await waitForStatus(h, key, r.body.id, ['stored']);
    }
    await waitUntil('both stored events delivered', async () => rx.on('/ordered').length >= 3);
    expect(rx.on('/ordered').map((w) => w.body.target)).toEqual([
      `recording:${ids[0]}`,
      `recording:${ids[0]}`,
      `recording:${ids[1]}`,
    ]);
    const log = await waitUntil('the log settled', async () => {
      const l = await deliveries(ordered.id);
      return l.every((d) => d.status === 'delivered') && l.length === 2 ? l : undefined;
    });
    expect(log.map((d) => d.attempts)).toEqual([1, 2]);
  });

  it('never returns the secret after creation, nor stores or audits it in clear', async () => {
    const list = await api(h, 'GET', `/v1/tenants/${T}/webhooks`);
    expect(list.status).toBe(200);
    expect(list.body.items.map((i: any) => i.id)).toContain(all.id);
    for (const item of list.body.items)
      expect(Object.keys(item).sort()).toEqual(['createdAt', 'events', 'id', 'url']);
    const texts = [
      list.bytes.toString(),
      (await api(h, 'GET', `/v1/tenants/${T}/webhooks/${all.id}/deliveries`)).bytes.toString(),
      JSON.stringify(await auditEntries(h, T)),
    ];
    const rows = await h.ctx.db.query<{ secret_ciphertext: Buffer }>(
      'SELECT secret_ciphertext FROM webhook_endpoints',
    );
    for (const secret of secrets) {
      for (const text of texts) expect(text).not.toContain(secret);
      for (const r of rows.rows) expect(r.secret_ciphertext.includes(Buffer.from(secret))).toBe(false);
    }
  });

  it('deleting an endpoint stops its deliveries and is audited', async () => {
    expect((await api(h, 'DELETE', `/v1/tenants/${T}/webhooks/${deletedOnly.id}`)).status).toBe(204);
    expectProblem(await api(h, 'DELETE', `/v1/tenants/${T}/webhooks/${deletedOnly.id}`), 404, 'NOT_FOUND');
    expectProblem(await api(h, 'POST', `/v1/tenants/${T}/webhooks/${deletedOnly.id}/ping`), 404, 'NOT_FOUND');
    const list = await api(h, 'GET', `/v1/tenants/${T}/webhooks`);
    expect(list.body.items.map((i: any) => i.id)).not.toContain(deletedOnly.id);
    const audit = await auditEntries(h, T);
    expect(audit.filter((e) => e.target === `webhook:${deletedOnly.id}`).map((e) => e.action)).toEqual([
      'webhook.created',
      'webhook.deleted',
    ]);

    const before = rx.on('/deleted-only').length;
    const r = await postRecording(h, key, AUDIO, { callId: 'after-delete' });
    await waitForStatus(h, key, r.body.id, ['stored']);
    expect((await api(h, 'DELETE', `/v1/recordings/${r.body.id}`, { token: key })).status).toBe(202);
    await waitForStatus(h, key, r.body.id, ['deleted']);
    // The other endpoint got this deletion, so the dispatcher has been past it.
    await waitUntil('the live endpoint got the deletion', async () =>
      rx
        .on('/all')
        .some((w) => w.body.type === 'recording.deleted' && w.body.target === `recording:${r.body.id}`),
    );
    expect(rx.on('/deleted-only')).toHaveLength(before);
  });

  it('two worker pods never deliver the same event twice', async () => {
    const second = await startHarness({ shareWith: h });
    try {
      const counted = await createWebhook('/counted', ['storage.activated']);
      rx.slow('/counted', 150);
      const pings: string[] = [];
      for (let i = 0; i < 8; i++) {
        const p = await api(h, 'POST', `/v1/tenants/${T}/webhooks/${counted.id}/ping`);
        expect(p.status).toBe(202);
        pings.push(p.body.eventId);
      }
      await waitUntil('every ping delivered', async () => {
        const log = await deliveries(counted.id);
        return log.length === pings.length && log.every((d) => d.status === 'delivered');
      });
      const ids = rx.on('/counted').map((w) => String(w.headers['custody-event-id']));
      expect(ids.sort()).toEqual([...pings].sort());
    } finally {
      await second.close();
    }
  });
});

describe('a deleted tenant', () => {
  it('receives its last events (recording.deleted, tenant.deleted); then the endpoint is retired, its secret forgotten', async () => {
    const tenant = 'wh-deleted';
    const { key: tenantKey } = await setupTenant(h, tenant);
    const hook = await createWebhook('/leaving', ['recording.deleted', 'tenant.deleted'], tenant);
    const posted = await postRecording(h, tenantKey, AUDIO, { callId: 'leaving' });
    await waitForStatus(h, tenantKey, posted.body.id, ['stored']);

    const del = await api(h, 'DELETE', `/v1/tenants/${tenant}`, { json: { confirm: tenant } });
    expect(del.status, del.bytes.toString()).toBe(202);
    const endpoint = await waitUntil('the endpoint retired', async () => {
      const row = (
        await h.ctx.db.query<{ active: boolean; disabled_reason: string; secret_ciphertext: Buffer | null }>(
          'SELECT active, disabled_reason, secret_ciphertext FROM webhook_endpoints WHERE id = $1',
          [hook.id],
        )
      ).rows[0]!;
      return row.active ? undefined : row;
    });
    expect(endpoint).toEqual({ active: false, disabled_reason: 'tenant deleted', secret_ciphertext: null });
    const got = rx.on('/leaving');
    expect(got.map((w) => [w.body.type, w.body.target])).toEqual([
      ['recording.deleted', `recording:${posted.body.id}`],
      ['tenant.deleted', `tenant:${tenant}`],
    ]);
    for (const w of got) expectSigned(w, hook.secret, hook.id);
    expect(got[1]!.body.data).toMatchObject({ recordings: 1 });
  });
});

describe('registration refuses what it must', () => {
  const refused: [string, string][] = [
    ['the cloud metadata address', 'http://169.254.169.254/latest/meta-data/'],
    ['the metadata address over IPv6-mapped IPv4', 'https://[::ffff:169.254.169.254]/'],
    ['loopback by name (not allowed by name)', `http://localhost:8080/hook`],
    ['another loopback address', 'http://127.0.0.2/hook'],
    ['IPv6 loopback', 'https://[::1]/hook'],
    ['a private 10/8 address', 'https://10.1.2.3/hook'],
    ['a private 172.16/12 address', 'https://172.20.0.1/hook'],
    ['a private 192.168/16 address', 'https://192.168.1.10/hook'],
    ['credentials in the URL', 'https://user:pw@hooks.example.com/hook'],
    ['plain http to a host the operator did not allow', 'http://8.8.8.8/hook'],
    ['a file: URL', 'file:///etc/passwd'],
    ['not a URL at all', 'hooks.example.com/hook'],
  ];
  for (const [what, url] of refused) {
    it(`refuses ${what}: 400 ENDPOINT_NOT_ALLOWED, nothing stored`, async () => {
      const before = {
        rows: await countRows(h, 'webhook_endpoints'),
        audit: await countRows(h, 'audit_events'),
      };
      const res = await api(h, 'POST', `/v1/tenants/${T}/webhooks`, { json: { url } });
      expectProblem(res, 400, 'ENDPOINT_NOT_ALLOWED');
      expect(res.body.detail).toContain('url');
      expect(res.bytes.toString()).not.toContain('pw@');
      expect({
        rows: await countRows(h, 'webhook_endpoints'),
        audit: await countRows(h, 'audit_events'),
      }).toEqual(before);
    });
  }

  const bad: [string, unknown][] = [
    ['no url', {}],
    ['a url that is not a string', { url: 42 }],
    ['an event that is not in the list', { url: 'http://127.0.0.1:9/x', events: ['recording.received'] }],
    ['an empty event list', { url: 'http://127.0.0.1:9/x', events: [] }],
    ['events that are not a list', { url: 'http://127.0.0.1:9/x', events: 'recording.stored' }],
    ['an unknown field', { url: 'http://127.0.0.1:9/x', secret: 'mine' }],
  ];
  for (const [what, json] of bad) {
    it(`${what} → 400 VALIDATION_FAILED, nothing stored`, async () => {
      const before = await countRows(h, 'webhook_endpoints');
      expectProblem(await api(h, 'POST', `/v1/tenants/${T}/webhooks`, { json }), 400, 'VALIDATION_FAILED');
      expect(await countRows(h, 'webhook_endpoints')).toBe(before);
    });
  }

  it('a bad delivery-log cursor is 400; an unknown endpoint is 404', async () => {
    const [first] = (await api(h, 'GET', `/v1/tenants/${T}/webhooks`)).body.items;
    expectProblem(
      await api(h, 'GET', `/v1/tenants/${T}/webhooks/${first.id}/deliveries?cursor=abc`),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(await api(h, 'GET', `/v1/tenants/${T}/webhooks/wh_nope/deliveries`), 404, 'NOT_FOUND');
    expectProblem(await api(h, 'GET', '/v1/tenants/no-such-tenant/webhooks'), 404, 'NOT_FOUND');
  });
});

describe('tenant isolation', () => {
  it('another tenant’s admin key cannot list, read, ping or delete this tenant’s endpoints', async () => {
    const [victim] = (await api(h, 'GET', `/v1/tenants/${T}/webhooks`)).body.items;
    const otherKey = await createKey(h, OTHER, ['tenant:admin']);
    const calls: [string, string][] = [
      ['GET', `/v1/tenants/${T}/webhooks`],
      ['GET', `/v1/tenants/${T}/webhooks/${victim.id}/deliveries`],
      ['POST', `/v1/tenants/${T}/webhooks/${victim.id}/ping`],
      ['DELETE', `/v1/tenants/${T}/webhooks/${victim.id}`],
      // Its own tenant in the path, this tenant's endpoint id: still missing.
      ['GET', `/v1/tenants/${OTHER}/webhooks/${victim.id}/deliveries`],
      ['POST', `/v1/tenants/${OTHER}/webhooks/${victim.id}/ping`],
      ['DELETE', `/v1/tenants/${OTHER}/webhooks/${victim.id}`],
    ];
    for (const [method, path] of calls)
      expectProblem(await api(h, method, path, { token: otherKey }), 404, 'NOT_FOUND');
    const own = await api(h, 'GET', `/v1/tenants/${OTHER}/webhooks`, { token: otherKey });
    expect(own.status).toBe(200);
    expect(own.body.items).toEqual([]);
    // Still there, untouched.
    expect((await api(h, 'GET', `/v1/tenants/${T}/webhooks`)).body.items.map((i: any) => i.id)).toContain(
      victim.id,
    );
  });

  it('a key of the tenant without tenant:admin is 403', async () => {
    const reader = await createKey(h, T, ['recordings:read', 'recordings:write', 'recordings:delete']);
    expectProblem(await api(h, 'GET', `/v1/tenants/${T}/webhooks`, { token: reader }), 403, 'FORBIDDEN');
    expectProblem(
      await api(h, 'POST', `/v1/tenants/${T}/webhooks`, { token: reader, json: { url: `${rx.url}/x` } }),
      403,
      'FORBIDDEN',
    );
  });
});

describe('giving up', () => {
  let g: Harness;
  beforeAll(async () => {
    g = await startHarness({
      env: {
        CUSTODY_ALLOW_PRIVATE_ENDPOINTS: '127.0.0.1',
        CUSTODY_WEBHOOK_INTERVAL_SECONDS: '1',
        CUSTODY_WEBHOOK_RETRY_BASE_SECONDS: '0.3',
        CUSTODY_WEBHOOK_GIVE_UP_SECONDS: '2',
      },
    });
  });
  afterAll(() => g?.close());

  it('marks an event failed once it is older than the give-up age, then delivers the next one', async () => {
    const tenant = 'wh-give-up';
    expect(
      (await api(g, 'POST', '/v1/tenants', { json: { id: tenant, name: tenant, retention: 'P1D' } })).status,
    ).toBe(201);
    const created = await api(g, 'POST', `/v1/tenants/${tenant}/webhooks`, {
      json: { url: `${rx.url}/dead`, events: ['storage.activated'] },
    });
    expect(created.status).toBe(201);
    const { id, secret } = created.body;
    // Storage version 1's event is refused for good; version 2's would be accepted.
    rx.respond('/dead', (w) => (w.body?.data?.version === 1 ? 500 : 200));
    for (let i = 0; i < 2; i++)
      expect(
        (await api(g, 'PUT', `/v1/tenants/${tenant}/storage`, { json: { provider: 'local' } })).status,
      ).toBe(200);

    const log = await waitUntil('v1 given up and v2 delivered', async () => {
      const res = await api(g, 'GET', `/v1/tenants/${tenant}/webhooks/${id}/deliveries`);
      const items = res.body.items as any[];
      return items.length === 2 && items.every((d) => d.status !== 'pending') ? items : undefined;
    });
    const [v2, v1] = log;
    expect(v1).toMatchObject({
      status: 'failed',
      lastHttpStatus: 500,
      lastError: 'HTTP 500',
      nextAttemptAt: null,
    });
    expect(v1.attempts).toBeGreaterThanOrEqual(2);
    expect(v2).toMatchObject({ status: 'delivered', attempts: 1, lastHttpStatus: 200 });
    // In order: version 2 went out only after version 1's last attempt.
    const got = rx.on('/dead');
    expect(got.map((w) => w.body.data.version)).toEqual([...new Array(v1.attempts).fill(1), 2]);
    for (const w of got) expectSigned(w, secret, id);
    // The receiver's response body is never kept.
    expect(JSON.stringify(log)).not.toContain('receiver-said');
    const metrics = await g.ctx.metrics.registry.getSingleMetricAsString('custody_webhook_deliveries_total');
    expect(metrics).toMatch(/outcome="failed"} 1\b/);
  });
});
