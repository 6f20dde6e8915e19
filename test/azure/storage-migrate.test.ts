import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AzureTenant,
  type AzureWorld,
  azureBody,
  setupAzureTenant,
  startAzureHarness,
} from '../support/azure-world.js';
import type { Harness } from '../support/harness.js';
import { auditEntries, countAudit, row } from '../support/observe.js';
import { type Rec, tenantRecordings } from '../support/tenant-recordings.js';

const MiB = 1024 * 1024;

/**
 * Storage switch on Azure: the tenant registers another container (a new storage version),
 * new recordings land there, the old ones play from the old container until a `migrate`
 * job moves them. With the same Key Vault key the bytes are copied as they are (no
 * wrapKey); with another key they are rewrapped on the way (one wrapKey each). Playback
 * after each step goes through Key Vault with the data-key cache cleared, so a remembered
 * key cannot hide a failure.
 */
describe('storage switch between Azure Blob containers, then migrate', () => {
  let world: AzureWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let t: AzureTenant;
  const recs: Rec[] = [];
  const moved = 'c-sm-azure-moved';
  const rekeyed = 'c-sm-azure-rekeyed';
  const { post, register, runKeyJob, expectAllPlay } = tenantRecordings(
    () => ({ h, tenant: t }),
    'storage-switch',
  );

  beforeAll(async () => {
    ({ world, h, close } = await startAzureHarness());
    t = await setupAzureTenant(h, world, 'sm-azure');
  });
  afterAll(async () => {
    await close?.();
  });

  /** The tenant's blob names in `container`, straight from Azurite (shared key, not Custody). */
  async function blobs(container: string): Promise<string[]> {
    const names: string[] = [];
    const client = world.azurite.serviceClient().getContainerClient(container);
    for await (const b of client.listBlobsFlat({ prefix: `${t.prefix}/` })) names.push(b.name);
    return names;
  }

  /** Per recording: exactly one audio blob and its metadata sidecar beside it; nothing else. */
  function expectOneEach(names: string[], ids: string[]): void {
    expect(names, 'no stray blobs').toHaveLength(2 * ids.length);
    for (const id of ids) {
      const mine = names.filter((n) => n.includes(id));
      const audio = mine.filter((n) => !n.endsWith('.meta.json.esdk'));
      expect(audio, `blobs of ${id}`).toHaveLength(1);
      expect(mine.filter((n) => n.endsWith('.meta.json.esdk'))).toEqual([
        audio[0]!.replace(/\.esdk$/, '.meta.json.esdk'),
      ]);
    }
  }

  /** How many committed blocks the recording's audio blob has (a Put Blob upload has none listed). */
  async function blocksOf(id: string): Promise<number> {
    const r = await row(h, id);
    const { container } = await whereIs(id);
    const blob = world.azurite
      .serviceClient()
      .getContainerClient(container)
      .getBlockBlobClient(`${t.prefix}/${r.object_key}`);
    return (await blob.getBlockList('committed')).committedBlocks?.length ?? 0;
  }

  /** The row's storage version, and the container its location names. */
  async function whereIs(id: string): Promise<{ version: number; container: string }> {
    const r = await row(h, id);
    const rest = r.location.slice(`${world.azurite.accountUrl}/`.length);
    return { version: r.storage_version, container: rest.split('/')[0] };
  }

  const migrated = (audit: any[], id: string) =>
    audit.filter((e) => e.action === 'recording.migrated' && e.target === `recording:${id}`);

  it('switch container, same key: new recordings land in the new one, old play from the old; migrate copies them', async () => {
    // Over one 8 MiB block: staged blocks and a block list; the small one is a single Put Blob.
    recs.push(await post(9 * MiB + 123), await post(40_000));
    expectOneEach(
      await blobs(t.container),
      recs.map((r) => r.id),
    );
    // The large one went up staged in two blocks (8 MiB and the rest) and a block list.
    expect(await blocksOf(recs[0]!.id)).toBe(2);
    const keyId = (await row(h, recs[0]!.id)).key_id as string;

    await world.azurite.createContainer(moved);
    const v2 = await register({ ...azureBody(world, t), container: moved });
    expect(v2).toBe(2);
    recs.push(await post(12_345));
    expect(await whereIs(recs[2]!.id)).toEqual({ version: v2, container: moved });
    // The same (versionless) key pins the same key version: the migration can copy as is.
    expect((await row(h, recs[2]!.id)).key_id).toBe(keyId);
    expectOneEach(await blobs(moved), [recs[2]!.id]);
    expectOneEach(
      await blobs(t.container),
      recs.slice(0, 2).map((r) => r.id),
    );
    await expectAllPlay(recs);

    world.azure.resetCounts();
    await runKeyJob({ kind: 'migrate', ratePerSecond: 100 }, 2);
    // Same key on both versions: the bytes are copied as they are, nothing is wrapped again.
    expect(world.azure.counts.wrapKey).toBe(0);
    expect(await blobs(t.container), 'nothing of the tenant left in the old container').toEqual([]);
    expectOneEach(
      await blobs(moved),
      recs.map((r) => r.id),
    );
    for (const r of recs) {
      expect(await whereIs(r.id)).toEqual({ version: v2, container: moved });
      expect((await row(h, r.id)).key_id).toBe(keyId);
    }
    // The copy of the large one was staged in blocks too.
    expect(await blocksOf(recs[0]!.id)).toBe(2);
    await expectAllPlay(recs);

    const audit = await auditEntries(h, t.tenantId);
    for (const r of recs.slice(0, 2)) {
      expect(migrated(audit, r.id).map((e) => e.detail.mode)).toEqual(['copy']);
    }
    expect(countAudit(audit, 'recording.migrated', recs[2]!.id), 'born on v2: not moved').toBe(0);
  });

  it('switch container and key: migrate rewraps each recording on the way; the old key disabled, all play', async () => {
    const oldKeyId = (await row(h, recs[0]!.id)).key_id as string;
    const newKeyName = 'rec-sm-azure-2';
    world.azure.createKey(newKeyName);
    world.azure.grant(newKeyName, t.clientId, ['get', 'wrapKey', 'unwrapKey']);
    await world.azurite.createContainer(rekeyed);
    const v3 = await register({
      ...azureBody(world, t),
      container: rekeyed,
      keyId: `${world.azure.vaultUrl}/keys/${newKeyName}`,
    });
    expect(v3).toBe(3);
    await expectAllPlay(recs);
    const earlier = await auditEntries(h, t.tenantId);
    const movesBefore = recs.map((r) => migrated(earlier, r.id).length);

    world.azure.resetCounts();
    await runKeyJob({ kind: 'migrate', ratePerSecond: 100 }, recs.length);
    // One wrapKey of the same data key per recording (its sidecar shares that wrapping).
    expect(world.azure.counts.wrapKey).toBe(recs.length);
    expect(await blobs(moved)).toEqual([]);
    expectOneEach(
      await blobs(rekeyed),
      recs.map((r) => r.id),
    );
    for (const r of recs) {
      expect(await whereIs(r.id)).toEqual({ version: v3, container: rekeyed });
      const keyId = (await row(h, r.id)).key_id as string;
      expect(keyId).toMatch(new RegExp(`/keys/${newKeyName}/[0-9a-f]{32}$`));
      expect(keyId).not.toBe(oldKeyId);
    }
    const audit = await auditEntries(h, t.tenantId);
    for (const [i, r] of recs.entries()) {
      const mine = migrated(audit, r.id);
      expect(mine, `recording.migrated entries of ${r.id}`).toHaveLength(movesBefore[i]! + 1);
      expect(mine.at(-1)).toMatchObject({
        detail: { mode: 'rewrap', toVersion: v3, previousKeyId: oldKeyId },
      });
    }

    world.azure.disableKey(t.keyName);
    await expectAllPlay(recs);
  });
});
