import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkKeyHealth } from '../../src/jobs/key-health.js';
import { api, postRecording, setupTenant } from '../support/client.js';
import { type Harness, startHarness } from '../support/harness.js';
import { auditEntries, spoolFileOf, waitForAll } from '../support/observe.js';

/** `name{tenant="…"}` from the API's /metrics, or undefined when absent. */
async function metric(h: Harness, name: string, tenant: string): Promise<number | undefined> {
  const text = await (await fetch(`${h.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{tenant="${tenant}"} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

/** Sets the tenant's verdict as a worker would have recorded it, `checkedAgoS` seconds ago. */
async function setVerdict(
  h: Harness,
  tenant: string,
  v: { state: string; code: string | null; checkedAgoS: number; version?: number },
) {
  await h.ctx.db.query(
    `INSERT INTO key_health (tenant_id, storage_version, state, code, checked_at)
     VALUES ($1, $2, $3, $4, now() - make_interval(secs => $5))
     ON CONFLICT (tenant_id) DO UPDATE SET storage_version = $2, state = $3, code = $4, checked_at = EXCLUDED.checked_at`,
    [tenant, v.version ?? 1, v.state, v.code, v.checkedAgoS],
  );
}

async function post(h: Harness, key: string): Promise<string> {
  const res = await postRecording(h, key, randomBytes(5000));
  expect(res.status).toBe(202);
  return res.body.id;
}

describe('key health on the local provider: claims across workers, rotation metric, the transfer pause', () => {
  let h: Harness;
  let second: Harness;
  const tenants = ['kh-l1', 'kh-l2', 'kh-l3', 'kh-l4', 'kh-l5', 'kh-l6'];
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    // Default interval (300 s): the workers' own timer stays out of the way; the test runs rounds.
    h = await startHarness();
    second = await startHarness({ shareWith: h, workers: false });
    for (const t of tenants) keys[t] = (await setupTenant(h, t)).key;
  });
  afterAll(async () => {
    await second?.close();
    await h?.close();
  });

  it('two workers checking at once check each tenant once; verdicts and key ages show on /metrics', async () => {
    const [a, b] = await Promise.all([checkKeyHealth(h.ctx), checkKeyHealth(second.ctx)]);
    expect(a.checked + b.checked).toBe(tenants.length);
    const rows = await h.ctx.db.query('SELECT tenant_id, state FROM key_health ORDER BY tenant_id');
    expect(rows.rows).toEqual(tenants.map((t) => ({ tenant_id: t, state: 'ok' })));
    // Not due again within the interval.
    expect((await checkKeyHealth(h.ctx)).checked).toBe(0);
    // A healthy first verdict is no change worth an audit entry.
    expect((await auditEntries(h, 'kh-l1')).filter((e) => e.action.startsWith('key.'))).toEqual([]);

    expect(await metric(h, 'custody_key_healthy', 'kh-l1')).toBe(1);
    expect(await metric(h, 'custody_key_rotation_overdue', 'kh-l1')).toBe(0);
    await h.ctx.db.query(
      `UPDATE storage_versions SET created_at = now() - interval '400 days' WHERE tenant_id = 'kh-l1'`,
    );
    expect(await metric(h, 'custody_key_rotation_overdue', 'kh-l1')).toBe(1);
    expect(Math.floor((await metric(h, 'custody_active_key_age_days', 'kh-l1'))!)).toBe(400);
    expect(await metric(h, 'custody_key_rotation_overdue', 'kh-l2')).toBe(0);
  });

  it('an unhealthy verdict blocks at once; a stale or other-version verdict does not', async () => {
    const t = 'kh-l2';
    await setVerdict(h, t, { state: 'disabled', code: 'KeyDisabled', checkedAgoS: 0 });
    const paused = await post(h, keys[t]!);
    const [view] = await waitForAll(h, keys[t]!, [paused], ['blocked']);
    expect(view.error.code).toBe('KeyDisabled');
    expect(view.error.message).toMatch(/resume on their own/);
    expect(await spoolFileOf(h, t, paused)).toBe(true);

    // Nobody has checked for a day: the verdict no longer stops anything.
    await setVerdict(h, t, { state: 'disabled', code: 'KeyDisabled', checkedAgoS: 86_400 });
    expect((await api(h, 'POST', `/v1/recordings/${paused}/retry`, { token: keys[t]! })).status).toBe(202);
    await waitForAll(h, keys[t]!, [paused], ['stored']);

    // A verdict about another storage version says nothing about this one.
    await setVerdict(h, t, {
      state: 'pending-deletion',
      code: 'KMSInvalidStateException',
      checkedAgoS: 0,
      version: 7,
    });
    await waitForAll(h, keys[t]!, [await post(h, keys[t]!)], ['stored']);
    await setVerdict(h, t, { state: 'ok', code: null, checkedAgoS: 0 });
  });

  it('a check finding the key healthy again audits key.healthy and re-queues the blocked recordings', async () => {
    const t = 'kh-l3';
    await setVerdict(h, t, { state: 'access-denied', code: 'AccessDeniedException', checkedAgoS: 0 });
    const ids = [await post(h, keys[t]!), await post(h, keys[t]!)];
    await waitForAll(h, keys[t]!, ids, ['blocked']);
    // Still fresh (well within three intervals), but due for its next check.
    await setVerdict(h, t, { state: 'access-denied', code: 'AccessDeniedException', checkedAgoS: 280 });
    expect((await checkKeyHealth(h.ctx)).checked).toBe(1);
    await waitForAll(h, keys[t]!, ids, ['stored']);
    const audit = await auditEntries(h, t);
    const healthy = audit.filter((e) => e.action === 'key.healthy');
    expect(healthy).toHaveLength(1);
    expect(healthy[0].detail).toMatchObject({ version: 1, state: 'ok', previousState: 'access-denied' });
    expect(healthy[0].detail.keyId).toBe('custody-local/tenant/kh-l3');
    expect(audit.filter((e) => e.action === 'recording.retry' && e.actor === 'system')).toHaveLength(2);
    const row = await h.ctx.db.query(
      'SELECT state, code, unhealthy_since FROM key_health WHERE tenant_id = $1',
      [t],
    );
    expect(row.rows[0]).toEqual({ state: 'ok', code: null, unhealthy_since: null });
  });
});
