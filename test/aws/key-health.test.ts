import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsWorld, type S3Tenant, setupS3Tenant, startAwsHarness } from '../support/aws-world.js';
import { verifyWebhookSignature } from '../../src/webhooks/signature.js';
import { api, postRecording } from '../support/client.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';
import type { Harness } from '../support/harness.js';
import { auditEntries, playBack, spoolFileOf, waitForAll, waitUntil } from '../support/observe.js';

const TENANT = 'kh-aws';

/** One sample of `name{tenant="kh-aws"}` from the API's /metrics, or undefined when absent. */
async function metric(h: Harness, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${h.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{tenant="${TENANT}"} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

const keyAudits = async (h: Harness, action: string) =>
  (await auditEntries(h, TENANT)).filter((e) => e.action === action);

describe('AWS key health: a key scheduled for deletion pauses the tenant, its recovery drains it', () => {
  let world: AwsWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let tenant: S3Tenant;
  let rx: WebhookReceiver;
  let webhookSecret: string;

  beforeAll(async () => {
    ({ world, h, close } = await startAwsHarness({
      // Checked every second; blocked recordings retried only hourly, so only the key's
      // recovery can drain them within the test. Webhooks dispatched every second.
      env: {
        CUSTODY_KEY_HEALTH_INTERVAL_SECONDS: '1',
        CUSTODY_BLOCKED_RETRY_SECONDS: '3600',
        CUSTODY_WEBHOOK_INTERVAL_SECONDS: '1',
      },
    }));
    tenant = await setupS3Tenant(h, world, TENANT);
    rx = await startWebhookReceiver();
    const created = await api(h, 'POST', `/v1/tenants/${TENANT}/webhooks`, {
      json: { url: `${rx.url}/keys`, events: ['key.pending_deletion', 'key.unavailable', 'key.healthy'] },
    });
    expect(created.status, created.bytes.toString()).toBe(201);
    webhookSecret = created.body.secret;
  });
  afterAll(async () => {
    await rx?.close();
    await close?.();
  });

  it('audits key.pending_deletion once with the date, reports it, blocks new recordings without KMS calls, and resumes on key.healthy', async () => {
    await waitUntil('a first healthy verdict', async () => (await metric(h, 'custody_key_healthy')) === 1);
    expect(await metric(h, 'custody_key_rotation_overdue')).toBe(0);
    expect(await metric(h, 'custody_active_key_age_days')).toBeLessThan(1);

    world.aws.scheduleDeletion(tenant.keyArn);
    const [pending] = await waitUntil('key.pending_deletion', async () => {
      const found = await keyAudits(h, 'key.pending_deletion');
      return found.length > 0 && found;
    });
    expect(pending.actor).toBe('system');
    expect(pending.target).toBe(`tenant:${TENANT}`);
    expect(pending.detail).toMatchObject({
      version: 1,
      keyId: tenant.keyArn,
      state: 'pending-deletion',
      code: 'KMSInvalidStateException',
    });
    const deletionMs = Date.parse(pending.detail.deletionDate);
    expect(deletionMs - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect(deletionMs - Date.now()).toBeLessThan(31 * 86_400_000);
    expect(await metric(h, 'custody_key_healthy')).toBe(0);
    expect(await metric(h, 'custody_key_pending_deletion_seconds')).toBeGreaterThan(29 * 86_400);

    // The tenant's webhook hears of it, signed: verified here as a receiver would.
    const [hook] = await waitUntil('the key.pending_deletion webhook', async () => {
      const got = rx.on('/keys').filter((w) => w.body?.type === 'key.pending_deletion');
      return got.length > 0 && got;
    });
    expect(verifyWebhookSignature(webhookSecret, hook!.headers, hook!.raw)).toMatchObject({ valid: true });
    expect(verifyWebhookSignature(`${webhookSecret}x`, hook!.headers, hook!.raw)).toMatchObject({
      valid: false,
    });
    expect(hook!.body).toMatchObject({
      type: 'key.pending_deletion',
      tenantId: TENANT,
      data: { keyId: tenant.keyArn, deletionDate: pending.detail.deletionDate },
    });

    // Paused: new recordings block at once with the key's code, no GenerateDataKey per recording.
    world.aws.resetCounts();
    const recs: { id: string; audio: Buffer }[] = [];
    for (let i = 0; i < 3; i++) {
      const audio = randomBytes(30_000);
      const res = await postRecording(h, tenant.key, audio, { callId: `kh-${i}` });
      expect(res.status).toBe(202);
      recs.push({ id: res.body.id, audio });
    }
    const ids = recs.map((r) => r.id);
    const blocked = await waitForAll(h, tenant.key, ids, ['blocked']);
    for (const v of blocked) expect(v.error).toMatchObject({ code: 'KMSInvalidStateException' });
    for (const id of ids) expect(await spoolFileOf(h, TENANT, id)).toBe(true);
    // Several more checks see the same state: still one audit entry, not one per check.
    await waitUntil('three more checks', async () => world.aws.counts.DescribeKey >= 3);
    expect(world.aws.counts.GenerateDataKey).toBe(0);
    expect(await keyAudits(h, 'key.pending_deletion')).toHaveLength(1);

    // CancelKeyDeletion leaves the key Disabled (another problem, audited once); enabling heals it.
    world.aws.cancelDeletion(tenant.keyArn);
    const [disabled] = await waitUntil('key.unavailable', async () => {
      const found = await keyAudits(h, 'key.unavailable');
      return found.length > 0 && found;
    });
    expect(disabled.detail).toMatchObject({ state: 'disabled', code: 'DisabledException', version: 1 });
    expect(disabled.detail.deletionDate).toBeUndefined();
    world.aws.enable(tenant.keyArn);

    const [healthy] = await waitUntil('key.healthy', async () => {
      const found = await keyAudits(h, 'key.healthy');
      return found.length > 0 && found;
    });
    expect(healthy.detail).toMatchObject({ version: 1, keyId: tenant.keyArn, state: 'ok' });
    // No manual retry: the recovery re-queued them (the slow retry is an hour away).
    await waitForAll(h, tenant.key, ids, ['stored']);
    for (const r of recs) {
      expect(await spoolFileOf(h, TENANT, r.id)).toBe(false);
      expect((await playBack(h, tenant.key, r.id)).equals(r.audio)).toBe(true);
    }
    const audit = await auditEntries(h, TENANT);
    const retries = audit.filter((e) => e.action === 'recording.retry');
    expect(retries.map((e) => e.actor)).toEqual(['system', 'system', 'system']);
    expect(audit.filter((e) => e.action === 'key.pending_deletion')).toHaveLength(1);
    expect(audit.filter((e) => e.action === 'key.healthy')).toHaveLength(1);
    expect(await metric(h, 'custody_key_healthy')).toBe(1);
    expect(await metric(h, 'custody_key_pending_deletion_seconds')).toBeUndefined();
    await waitUntil('the key.healthy webhook', async () =>
      rx.on('/keys').some((w) => w.body?.type === 'key.healthy'),
    );
  });
});
