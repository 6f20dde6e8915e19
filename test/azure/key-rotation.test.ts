import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AzureTenant,
  type AzureWorld,
  azureBody,
  setupAzureTenant,
  startAzureHarness,
} from '../support/azure-world.js';
import type { Harness } from '../support/harness.js';
import { row } from '../support/observe.js';
import { type Rec, tenantRecordings } from '../support/tenant-recordings.js';

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
  const { post, register, runKeyJob, expectAllPlay } = tenantRecordings(() => ({ h, tenant: t }), 'rotation');

  beforeAll(async () => {
    ({ world, h, close } = await startAzureHarness());
    t = await setupAzureTenant(h, world, 'kr-azure');
  });
  afterAll(async () => {
    await close?.();
  });

  it('rotates, rewraps everything onto the new key, and plays all with the old key disabled', async () => {
    recs.push(await post(300_000), await post(20_000));
    const oldKeyId = (await row(h, recs[0]!.id)).key_id as string;

    const newKeyName = 'rec-kr-azure-2';
    world.azure.createKey(newKeyName);
    world.azure.grant(newKeyName, t.clientId, ['get', 'wrapKey', 'unwrapKey']);
    await register({ ...azureBody(world, t), keyId: `${world.azure.vaultUrl}/keys/${newKeyName}` });
    recs.push(await post(15_000));
    const newKeyId = (await row(h, recs[2]!.id)).key_id as string;
    expect(newKeyId).toMatch(new RegExp(`/keys/${newKeyName}/[0-9a-f]{32}$`));
    expect(oldKeyId).not.toBe(newKeyId);
    await expectAllPlay(recs);

    world.azure.resetCounts();
    await runKeyJob({ kind: 'rewrap', ratePerSecond: 100 }, 2);
    expect(world.azure.counts.wrapKey).toBe(2);
    for (const r of recs) expect((await row(h, r.id)).key_id).toBe(newKeyId);

    world.azure.disableKey(t.keyName);
    await expectAllPlay(recs);
  });
});
