import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AzureTenant,
  type AzureWorld,
  azureBody,
  setupAzureTenant,
  startAzureHarness,
} from '../support/azure-world.js';
import { api, postRecording } from '../support/client.js';
import type { Harness } from '../support/harness.js';
import { startKeyJob, waitForKeyJob } from '../support/key-jobs.js';
import { playBack, row, waitForAll } from '../support/observe.js';

type Rec = { id: string; audio: Buffer };

/**
 * Rotation on Azure: a second Key Vault key registered as a new storage version; rewrap
 * onto it (one wrapKey of the same data key per recording), the old key disabled: every
 * recording still plays, through Key Vault, with the data-key cache cleared.
 */
describe('key rotation and rewrap on Azure Blob + Key Vault', () => {
  let world: AzureWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let t: AzureTenant;
  const recs: Rec[] = [];

  beforeAll(async () => {
    ({ world, h, close } = await startAzureHarness());
    t = await setupAzureTenant(h, world, 'kr-azure');
  });
  afterAll(async () => {
    await close?.();
  });

  async function post(size: number): Promise<Rec> {
    const audio = randomBytes(size);
    const res = await postRecording(h, t.key, audio, { callId: 'rotation' });
    expect(res.status).toBe(202);
    await waitForAll(h, t.key, [res.body.id], ['stored']);
    return { id: res.body.id, audio };
  }

  async function expectAllPlay(): Promise<void> {
    for (const r of recs) {
      h.ctx.dataKeys.clear();
      expect((await playBack(h, t.key, r.id)).equals(r.audio), `playback of ${r.id}`).toBe(true);
    }
  }

  it('rotates, rewraps everything onto the new key, and plays all with the old key disabled', async () => {
    recs.push(await post(300_000), await post(20_000));
    const oldKeyId = (await row(h, recs[0]!.id)).key_id as string;

    const newKeyName = 'rec-kr-azure-2';
    world.azure.createKey(newKeyName);
    world.azure.grant(newKeyName, t.clientId, ['get', 'wrapKey', 'unwrapKey']);
    const reg = await api(h, 'PUT', `/v1/tenants/${t.tenantId}/storage`, {
      json: { ...azureBody(world, t), keyId: `${world.azure.vaultUrl}/keys/${newKeyName}` },
    });
    expect(reg.status, reg.bytes.toString()).toBe(200);
    recs.push(await post(15_000));
    const newKeyId = (await row(h, recs[2]!.id)).key_id as string;
    expect(newKeyId).toMatch(new RegExp(`/keys/${newKeyName}/[0-9a-f]{32}$`));
    expect(oldKeyId).not.toBe(newKeyId);
    await expectAllPlay();

    world.azure.resetCounts();
    const started = await startKeyJob(h, t.tenantId, { kind: 'rewrap', ratePerSecond: 100 });
    expect(started.total).toBe(2);
    expect(await waitForKeyJob(h, t.tenantId, started.id)).toMatchObject({
      status: 'done',
      done: 2,
      failed: 0,
    });
    expect(world.azure.counts.wrapKey).toBe(2);
    for (const r of recs) expect((await row(h, r.id)).key_id).toBe(newKeyId);

    world.azure.disableKey(t.keyName);
    await expectAllPlay();
  });
});
