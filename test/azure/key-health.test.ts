import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AzureTenant,
  type AzureWorld,
  setupAzureTenant,
  startAzureHarness,
} from '../support/azure-world.js';
import { postRecording } from '../support/client.js';
import type { Harness } from '../support/harness.js';
import { auditEntries, playBack, spoolFileOf, waitForAll, waitUntil } from '../support/observe.js';

const TENANT = 'kh-azure';

async function metric(h: Harness, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${h.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{tenant="${TENANT}"} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

/** Waits for the `n`-th audit entry with `action`; returns all of them. */
async function audits(h: Harness, action: string, n = 1): Promise<any[]> {
  return waitUntil(`${n} × ${action}`, async () => {
    const found = (await auditEntries(h, TENANT)).filter((e) => e.action === action);
    return found.length >= n && found;
  });
}

async function postMany(h: Harness, t: AzureTenant, count: number) {
  const recs: { id: string; audio: Buffer }[] = [];
  for (let i = 0; i < count; i++) {
    const audio = randomBytes(30_000);
    const res = await postRecording(h, t.key, audio, { callId: `kh-${i}` });
    expect(res.status).toBe(202);
    recs.push({ id: res.body.id, audio });
  }
  return recs;
}

describe('Azure key health: a disabled key or a lost role pauses the tenant, recovery drains it', () => {
  let world: AzureWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let tenant: AzureTenant;

  beforeAll(async () => {
    ({ world, h, close } = await startAzureHarness({
      env: { CUSTODY_KEY_HEALTH_INTERVAL_SECONDS: '1', CUSTODY_BLOCKED_RETRY_SECONDS: '3600' },
    }));
    tenant = await setupAzureTenant(h, world, TENANT);
  });
  afterAll(async () => {
    await close?.();
  });

  it('disableKey → key.unavailable KeyDisabled, recordings blocked without wraps; enableKey → key.healthy and drained', async () => {
    await waitUntil('a first healthy verdict', async () => (await metric(h, 'custody_key_healthy')) === 1);
    world.azure.disableKey(tenant.keyName);
    const [unavailable] = await audits(h, 'key.unavailable');
    expect(unavailable.target).toBe(`tenant:${TENANT}`);
    expect(unavailable.detail).toMatchObject({ version: 1, state: 'disabled', code: 'KeyDisabled' });
    // The pinned, versioned key id: what the tenant sees in its vault.
    expect(unavailable.detail.keyId).toMatch(new RegExp(`/keys/${tenant.keyName}/[0-9a-f]+$`));
    expect(await metric(h, 'custody_key_healthy')).toBe(0);

    world.azure.resetCounts();
    const recs = await postMany(h, tenant, 3);
    const ids = recs.map((r) => r.id);
    for (const v of await waitForAll(h, tenant.key, ids, ['blocked']))
      expect(v.error).toMatchObject({ code: 'KeyDisabled' });
    for (const id of ids) expect(await spoolFileOf(h, TENANT, id)).toBe(true);
    await waitUntil('three more checks', async () => world.azure.counts.getKey >= 3);
    expect(world.azure.counts.wrapKey).toBe(0);
    expect(await audits(h, 'key.unavailable')).toHaveLength(1);

    world.azure.enableKey(tenant.keyName);
    const [healthy] = await audits(h, 'key.healthy');
    expect(healthy.detail).toMatchObject({ version: 1, state: 'ok', previousState: 'disabled' });
    await waitForAll(h, tenant.key, ids, ['stored']);
    for (const r of recs) {
      expect(await spoolFileOf(h, TENANT, r.id)).toBe(false);
      expect((await playBack(h, tenant.key, r.id)).equals(r.audio)).toBe(true);
    }
    expect(await metric(h, 'custody_key_healthy')).toBe(1);
  });

  it('a role assignment without wrapKey shows only in the test wrap: key.unavailable access-denied, then healthy again', async () => {
    world.azure.revoke(tenant.keyName, tenant.clientId, ['wrapKey']);
    const all = await audits(h, 'key.unavailable', 2);
    expect(all[1].detail).toMatchObject({ state: 'access-denied', code: 'ForbiddenByRbac' });
    const [rec] = await postMany(h, tenant, 1);
    const [view] = await waitForAll(h, tenant.key, [rec!.id], ['blocked']);
    expect(view.error).toMatchObject({ code: 'ForbiddenByRbac' });

    world.azure.grant(tenant.keyName, tenant.clientId, ['wrapKey']);
    await audits(h, 'key.healthy', 2);
    await waitForAll(h, tenant.key, [rec!.id], ['stored']);
  });
});
