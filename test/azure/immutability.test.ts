import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AZURE_HANDSHAKE_STEPS,
  type AzureTenant,
  type AzureWorld,
  azureBody,
  setupAzureTenant,
  startAzureHarness,
} from '../support/azure-world.js';
import { capturedLogger } from '../support/captured-log.js';
import { api } from '../support/client.js';
import { expectHandshakeFailedAt } from '../support/handshake-checks.js';
import type { Harness } from '../support/harness.js';
import { ImmutabilityProxy } from '../support/immutability-proxy.js';
import { startKeyJob, waitForKeyJob } from '../support/key-jobs.js';
import { playBack, row, waitForAll } from '../support/observe.js';
import { type Rec, tenantRecordings } from '../support/tenant-recordings.js';

/** With immutability the container's support is checked right after the probe is put. */
const WORM_STEPS = [
  ...AZURE_HANDSHAKE_STEPS.slice(0, AZURE_HANDSHAKE_STEPS.indexOf('put-probe') + 1),
  'immutability',
  ...AZURE_HANDSHAKE_STEPS.slice(AZURE_HANDSHAKE_STEPS.indexOf('put-probe') + 1),
];

/** Above the target's 8 MiB block size: staged blocks and a Put Block List. */
const BLOCK_LIST_SIZE = 8 * 1024 * 1024 + 4321;

/**
 * Azure version-level immutability (WORM) through the real service: Azurite holds the
 * bytes, and ImmutabilityProxy in front of it keeps what Azure would lock (policies and
 * legal holds per blob version, and the versions a delete or overwrite keeps). Custody
 * reaches it as the tenant's account URL, in OAuth mode over TLS, as it reaches Azure.
 */
describe('Azure Blob WORM (version-level immutability) end to end', () => {
  let world: AzureWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let proxy: ImmutabilityProxy;
  let t: AzureTenant;
  /** Stored without a hold, held and released, then deleted. */
  let plain: Rec;
  /** Held before it was stored. */
  let held: Rec;
  /** The service's log: a key job that keeps retrying says why only there. */
  const logs = capturedLogger();
  const keyJobErrors = () => [
    ...new Set(
      logs
        .text()
        .split('\n')
        .filter((l) => l.includes('"queue":"key-jobs"'))
        .map((l) => JSON.parse(l).err as string | undefined)
        .filter((e) => e !== undefined),
    ),
  ];

  const wormBody = (tenant: AzureTenant, keyId = tenant.keyId) => ({
    ...azureBody(world, tenant),
    accountUrl: proxy.accountUrl,
    keyId,
    immutability: { mode: 'Unlocked' },
  });
  const blobOf = (tenant: AzureTenant, objectKey: string) => `${tenant.prefix}/${objectKey}`;
  const sidecarOf = (blob: string) => blob.replace(/\.esdk$/, '.meta.json.esdk');
  /** The policy date goes as RFC 1123, in whole seconds: the row's expiry, truncated. */
  const policyUntil = (expiresAt: Date) => new Date(Math.floor(expiresAt.getTime() / 1000) * 1000);
  const blobNames = async (tenant: AzureTenant) => {
    const names: string[] = [];
    const container = world.azurite.serviceClient().getContainerClient(tenant.container);
    for await (const b of container.listBlobsFlat()) names.push(b.name);
    return names;
  };
  const storedBytes = (tenant: AzureTenant, blob: string) =>
    world.azurite.serviceClient().getContainerClient(tenant.container).getBlobClient(blob).downloadToBuffer();
  const legalHold = (id: string, hold: boolean) =>
    api(h, 'PUT', `/v1/recordings/${id}/legal-hold`, {
      token: t.key,
      json: { hold, ...(hold ? { reason: 'litigation 42' } : {}) },
    });

  const { post, expectAllPlay } = tenantRecordings(() => ({ h, tenant: t }), 'worm');

  beforeAll(async () => {
    ({ world, h, close } = await startAzureHarness({ log: logs.log }));
    proxy = await new ImmutabilityProxy(world.azurite).start();
    t = await setupAzureTenant(h, world, 'worm-azure', { register: false });
    proxy.enableVersionLevelImmutability(t.container);
  });
  afterAll(async () => {
    await proxy?.stop();
    await close?.();
  });

  it('registers through a handshake that checks the container supports version-level immutability', async () => {
    const res = await api(h, 'PUT', `/v1/tenants/${t.tenantId}/storage`, { json: wormBody(t) });
    expect(res.status, res.bytes.toString()).toBe(200);
    expect(res.body.handshake.steps.map((s: { name: string }) => s.name)).toEqual(WORM_STEPS);
    expect(res.body.handshake.steps.every((s: { ok: boolean }) => s.ok)).toBe(true);
    const storage = await api(h, 'GET', `/v1/tenants/${t.tenantId}/storage`);
    expect(storage.body.active.config).toMatchObject({ immutability: { mode: 'Unlocked' } });
    // The probe is put without retention, so it could be deleted: nothing was kept of it.
    expect(await blobNames(t)).toEqual([]);
    expect(proxy.retainedVersions).toEqual([]);
  });

  it('refuses a container without that support at the immutability step, activating nothing', async () => {
    const other = await setupAzureTenant(h, world, 'worm-azure-plain', { register: false });
    const res = await api(h, 'PUT', `/v1/tenants/${other.tenantId}/storage`, { json: wormBody(other) });
    expectHandshakeFailedAt(res, WORM_STEPS, {
      step: 'immutability',
      code: 'ImmutableStorageWithVersioningNotEnabled',
      advice: /Enable version-level immutability support on the container/,
    });
    expect(res.bytes.toString()).not.toContain(other.clientSecret);
    expect((await api(h, 'GET', `/v1/tenants/${other.tenantId}/storage`)).body).toEqual({
      active: null,
      history: [],
    });
    expect(await blobNames(other)).toEqual([]);
  });

  it('stores a recording whose audio and sidecar are retained until it expires, with no hold', async () => {
    plain = await post(40_000);
    const r = await row(h, plain.id);
    const audioBlob = blobOf(t, r.object_key);
    expect((await blobNames(t)).sort()).toEqual([audioBlob, sidecarOf(audioBlob)].sort());
    const policy = { until: policyUntil(r.expires_at), mode: 'Unlocked' };
    expect(proxy.lockOf(t.container, audioBlob)).toEqual({ ...policy, legalHold: false });
    expect(proxy.lockOf(t.container, sidecarOf(audioBlob))).toEqual({ ...policy, legalHold: false });
    expect((await playBack(h, t.key, plain.id)).equals(plain.audio)).toBe(true);
  });

  it('sets and releases the legal hold of a stored recording on its audio blob and its sidecar', async () => {
    const r = await row(h, plain.id);
    const audioBlob = blobOf(t, r.object_key);
    const policy = { until: policyUntil(r.expires_at), mode: 'Unlocked' };

    const on = await legalHold(plain.id, true);
    expect(on.status, on.bytes.toString()).toBe(200);
    expect(on.body).toMatchObject({ legalHold: true, legalHoldReason: 'litigation 42' });
    expect(proxy.lockOf(t.container, audioBlob)).toEqual({ ...policy, legalHold: true });
    expect(proxy.lockOf(t.container, sidecarOf(audioBlob))).toEqual({ ...policy, legalHold: true });
    const refused = await api(h, 'DELETE', `/v1/recordings/${plain.id}`, { token: t.key });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('LEGAL_HOLD');

    const off = await legalHold(plain.id, false);
    expect(off.status, off.bytes.toString()).toBe(200);
    expect(off.body.legalHold).toBe(false);
    expect(proxy.lockOf(t.container, audioBlob)).toEqual({ ...policy, legalHold: false });
    expect(proxy.lockOf(t.container, sidecarOf(audioBlob))).toEqual({ ...policy, legalHold: false });
  });

  it('uploads a recording held before it is stored with the hold from the start', async () => {
    await h.stopWorkers();
    try {
      held = await post(BLOCK_LIST_SIZE, { wait: false });
      const res = await legalHold(held.id, true);
      expect(res.status, res.bytes.toString()).toBe(200);
      expect((await row(h, held.id)).status).toBe('queued');
    } finally {
      await h.startWorkers();
    }
    await waitForAll(h, t.key, [held.id], ['stored']);
    const r = await row(h, held.id);
    const audioBlob = blobOf(t, r.object_key);
    for (const blob of [audioBlob, sidecarOf(audioBlob)]) {
      expect(proxy.lockOf(t.container, blob), blob).toEqual({
        until: policyUntil(r.expires_at),
        mode: 'Unlocked',
        legalHold: true,
      });
    }
    const requests = proxy.requests.filter((q) => q.path.includes(`/${held.id}.esdk`));
    // Committed as a block list that carried the hold: no Set Legal Hold afterwards.
    expect(requests.some((q) => q.method === 'PUT' && q.path.includes('comp=blocklist'))).toBe(true);
    expect(requests.filter((q) => q.path.includes('comp=legalhold'))).toEqual([]);
    expect((await playBack(h, t.key, held.id)).equals(held.audio)).toBe(true);
  });

  it('rewraps onto a second Key Vault key: new blobs locked as the old, old ones retained, all play', async () => {
    const before = new Map<string, { blob: string; bytes: Buffer; expiresAt: Date; hold: boolean }>();
    for (const rec of [plain, held]) {
      const r = await row(h, rec.id);
      const blob = blobOf(t, r.object_key);
      before.set(rec.id, {
        blob,
        bytes: await storedBytes(t, blob),
        expiresAt: r.expires_at,
        hold: r.legal_hold,
      });
    }
    const newKeyName = 'rec-worm-azure-2';
    world.azure.createKey(newKeyName);
    world.azure.grant(newKeyName, t.clientId, ['get', 'wrapKey', 'unwrapKey']);
    const reg = await api(h, 'PUT', `/v1/tenants/${t.tenantId}/storage`, {
      json: wormBody(t, `${world.azure.vaultUrl}/keys/${newKeyName}`),
    });
    expect(reg.status, reg.bytes.toString()).toBe(200);
    expect(reg.body.handshake.steps.map((s: { name: string }) => s.name)).toEqual(WORM_STEPS);

    const job = await startKeyJob(h, t.tenantId, { kind: 'rewrap', ratePerSecond: 100 });
    expect(job.total).toBe(2);
    const ended = await waitForKeyJob(h, t.tenantId, job.id, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}; its attempts failed with: ${keyJobErrors().join(' | ') || 'nothing'}`);
    });
    expect(ended).toMatchObject({ status: 'done', done: 2, failed: 0 });

    const names = await blobNames(t);
    for (const rec of [plain, held]) {
      const old = before.get(rec.id)!;
      const r = await row(h, rec.id);
      expect(r.key_id).toMatch(new RegExp(`/keys/${newKeyName}/[0-9a-f]{32}$`));
      const blob = blobOf(t, r.object_key);
      expect(blob).not.toBe(old.blob);
      const policy = { until: policyUntil(old.expiresAt), mode: 'Unlocked' };
      expect(proxy.lockOf(t.container, blob), `new audio of ${rec.id}`).toEqual({
        ...policy,
        legalHold: old.hold,
      });
      expect(proxy.lockOf(t.container, sidecarOf(blob)), `new sidecar of ${rec.id}`).toEqual({
        ...policy,
        legalHold: old.hold,
      });
      // The old blobs left the listing, and Azure kept them as previous versions, locked as they were.
      expect(names).toEqual(expect.arrayContaining([blob, sidecarOf(blob)]));
      expect(names).not.toContain(old.blob);
      expect(names).not.toContain(sidecarOf(old.blob));
      const kept = proxy.retainedVersions.filter((v) => v.blob === old.blob);
      expect(kept).toHaveLength(1);
      expect(kept[0]).toMatchObject({ reason: 'deleted', lock: { ...policy, legalHold: old.hold } });
      expect(kept[0]!.bytes.equals(old.bytes)).toBe(true);
      expect(proxy.retainedVersions.filter((v) => v.blob === sidecarOf(old.blob))).toHaveLength(1);
    }
    // Through the new key alone: the old one is disabled, the data-key cache cleared.
    world.azure.disableKey(t.keyName);
    await expectAllPlay([plain, held]);
  });

  it('deletes an unheld recording from view while Azure keeps its retained version', async () => {
    const r = await row(h, plain.id);
    const audioBlob = blobOf(t, r.object_key);
    const bytes = await storedBytes(t, audioBlob);
    const keptBefore = proxy.retainedVersions.length;

    const res = await api(h, 'DELETE', `/v1/recordings/${plain.id}`, { token: t.key });
    expect(res.status, res.bytes.toString()).toBe(202);
    await waitForAll(h, t.key, [plain.id], ['deleted']);

    const names = await blobNames(t);
    expect(names).not.toContain(audioBlob);
    expect(names).not.toContain(sidecarOf(audioBlob));
    expect(proxy.lockOf(t.container, audioBlob)).toBeUndefined();
    const kept = proxy.retainedVersions.slice(keptBefore);
    expect(kept.map((v) => v.blob).sort()).toEqual([audioBlob, sidecarOf(audioBlob)].sort());
    const audio = kept.find((v) => v.blob === audioBlob)!;
    expect(audio).toMatchObject({
      reason: 'deleted',
      lock: { until: policyUntil(r.expires_at), mode: 'Unlocked', legalHold: false },
    });
    expect(audio.bytes.equals(bytes)).toBe(true);

    // The held one is refused and stays as it is.
    const heldRow = await row(h, held.id);
    const refused = await api(h, 'DELETE', `/v1/recordings/${held.id}`, { token: t.key });
    expect(refused.status).toBe(409);
    expect(names).toContain(blobOf(t, heldRow.object_key));
  });
});
