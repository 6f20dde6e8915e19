import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AzureTenant,
  type AzureWorld,
  azureBody,
  setupAzureTenant,
  startAzureHarness,
} from '../support/azure-world.js';
import { BlockCopyProxy } from '../support/block-copy-proxy.js';
import type { Harness } from '../support/harness.js';
import { startKeyJob, waitForKeyJob } from '../support/key-jobs.js';
import { auditEntries, countAudit, metricValue, row } from '../support/observe.js';
import { type Rec, tenantRecordings } from '../support/tenant-recordings.js';

const MiB = 1024 * 1024;

/**
 * Rewrap and migrate on Azure with Put Block From URL (Azurite behind the block-copy
 * stand-in): the new header is staged from here and the frames are staged by the service
 * from the old blob, read with the service principal's own token; small recordings
 * stream. Everything plays afterwards through Key Vault, with the old key disabled.
 */
describe('rewrap and migrate with Azure server-side copy', () => {
  let world: AzureWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let proxy: BlockCopyProxy;
  let t: AzureTenant;
  let newKeyId: string;
  const recs: Rec[] = [];
  const moved = 'c-ssc-azure-moved';
  const { post, register, expectAllPlay } = tenantRecordings(() => ({ h, tenant: t }), 'server-copy');

  beforeAll(async () => {
    ({ world, h, close } = await startAzureHarness());
    proxy = await new BlockCopyProxy(new URL(world.azurite.accountUrl).origin).start();
    t = await setupAzureTenant(h, world, 'ssc-azure', { register: false });
    await registerViaProxy({});
    for (const size of [9 * MiB + 4321, 40_000]) recs.push(await post(size));
  });
  afterAll(async () => {
    await close?.();
    await proxy?.stop();
  });

  /** Registers through the proxy (its account URL), with changes to the tenant's body. */
  function registerViaProxy(changes: Record<string, unknown>): Promise<number> {
    return register({
      ...azureBody(world, t),
      accountUrl: `${proxy.endpoint}/${world.azurite.accountName}`,
      ...changes,
    });
  }

  async function blobs(container: string): Promise<string[]> {
    const names: string[] = [];
    const client = world.azurite.serviceClient().getContainerClient(container);
    for await (const b of client.listBlobsFlat({ prefix: `${t.prefix}/` })) names.push(b.name);
    return names;
  }

  const jobBytes = (kind: string, method: string) =>
    metricValue(h, 'custody_key_job_bytes_total', { kind, method });

  it('rewrap: the large recording is staged from its old blob by the service, the small one streamed', async () => {
    const [big, small] = recs as [Rec, Rec];
    const bigSize = (await row(h, big.id)).object_size;
    const newKeyName = 'rec-ssc-azure-2';
    world.azure.createKey(newKeyName);
    world.azure.grant(newKeyName, t.clientId, ['get', 'wrapKey', 'unwrapKey']);
    newKeyId = `${world.azure.vaultUrl}/keys/${newKeyName}`;
    expect(await registerViaProxy({ keyId: newKeyId })).toBe(2);
    proxy.copies.length = 0;
    const readBefore = proxy.bytesRead;
    world.azure.resetCounts();

    const started = await startKeyJob(h, t.tenantId, { kind: 'rewrap', ratePerSecond: 100 });
    expect(await waitForKeyJob(h, t.tenantId, started.id)).toMatchObject({
      status: 'done',
      done: 2,
      failed: 0,
    });
    expect(world.azure.counts.wrapKey).toBe(2);

    // One block copied from the large recording's old blob, with a bearer token of the principal.
    expect(proxy.copies).toHaveLength(1);
    expect(proxy.copies[0]!.source.endsWith(`${big.id}.esdk`)).toBe(true);
    expect(proxy.copies[0]!.authorization).toMatch(/^Bearer ./);
    const copied = await jobBytes('rewrap', 'server-copy');
    expect(copied).toBeGreaterThan(bigSize - 4096);
    // Through this process: headers, the small recording, sidecars and verification frames.
    expect(proxy.bytesRead - readBefore).toBeLessThan(2 * MiB);
    for (const r of [big, small]) expect((await row(h, r.id)).storage_version).toBe(2);
    expect((await blobs(t.container)).filter((n) => !n.endsWith('.meta.json.esdk'))).toHaveLength(2);

    world.azure.disableKey(t.keyName);
    await expectAllPlay(recs);
    expect(countAudit(await auditEntries(h, t.tenantId), 'recording.rewrapped', big.id)).toBe(1);
  });

  it('migrate to another container with the same key: copied by the service as it is, nothing rewrapped', async () => {
    await world.azurite.createContainer(moved);
    const v3 = await registerViaProxy({ keyId: newKeyId, container: moved });
    proxy.copies.length = 0;
    world.azure.resetCounts();
    const started = await startKeyJob(h, t.tenantId, { kind: 'migrate', ratePerSecond: 100 });
    expect(await waitForKeyJob(h, t.tenantId, started.id)).toMatchObject({ status: 'done', done: 2 });
    expect(world.azure.counts.wrapKey).toBe(0);
    expect(proxy.copies).toHaveLength(1);
    expect(proxy.copies[0]!.source).toContain(`/${t.container}/`);
    expect(await blobs(t.container)).toEqual([]);
    expect(await blobs(moved)).toHaveLength(4);
    for (const r of recs) expect((await row(h, r.id)).storage_version).toBe(v3);
    await expectAllPlay(recs);
  });
});
