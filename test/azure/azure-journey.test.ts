import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AZURE_HANDSHAKE_STEPS,
  type AzureTenant,
  type AzureWorld,
  azureBody,
  setupAzureTenant,
  startAzureHarness,
} from '../support/azure-world.js';
import { api, postRecording, waitForStatus } from '../support/client.js';
import type { Harness } from '../support/harness.js';

const FRAME = 256 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('a recording’s whole journey on Azure Blob + Key Vault (Azurite, Entra and Key Vault stand-ins)', () => {
  let world: AzureWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let tenant: AzureTenant;
  let registration: any;
  const audio = randomBytes(3 * FRAME + 999);
  let id: string;

  const blobs = async (t: AzureTenant) => {
    const names: string[] = [];
    const container = world.azurite.serviceClient().getContainerClient(t.container);
    for await (const b of container.listBlobsFlat({ prefix: `${t.prefix}/` })) names.push(b.name);
    return names;
  };

  beforeAll(async () => {
    ({ world, h, close } = await startAzureHarness());
    tenant = await setupAzureTenant(h, world, 'az-journey', { register: false });
    const res = await api(h, 'PUT', '/v1/tenants/az-journey/storage', { json: azureBody(world, tenant) });
    expect(res.status, res.bytes.toString()).toBe(200);
    registration = res.body;
    const posted = await postRecording(h, tenant.key, audio, { callId: 'call-az' });
    expect(posted.status).toBe(202);
    id = posted.body.id;
    await waitForStatus(h, tenant.key, id, ['stored']);
  });
  afterAll(async () => {
    await close?.();
  });

  it('registers through a handshake whose every Azure step is named, timed and passed', () => {
    expect(registration).toMatchObject({ version: 1, status: 'active', handshake: { ok: true } });
    expect(registration.handshake.steps.map((s: any) => s.name)).toEqual([...AZURE_HANDSHAKE_STEPS]);
    for (const s of registration.handshake.steps)
      expect(s).toMatchObject({ ok: true, ms: expect.any(Number) });
  });

  it('pins the key version the handshake found, and never shows the secret', async () => {
    const s = await api(h, 'GET', '/v1/tenants/az-journey/storage');
    const active = s.body.active;
    expect(active.config.keyId).toMatch(new RegExp(`^${tenant.keyId}/[0-9a-f]{32}$`));
    expect(active.keyId).toBe(active.config.keyId);
    expect(active.config).toMatchObject({
      accountUrl: world.azurite.accountUrl,
      container: tenant.container,
      prefix: tenant.prefix,
      clientId: tenant.clientId,
      credentialType: 'client-secret',
    });
    expect(s.bytes.toString()).not.toContain(tenant.clientSecret);
    expect(JSON.stringify(registration)).not.toContain(tenant.clientSecret);
  });

  it('keeps the secret sealed at rest: the stored row holds no trace of it', async () => {
    const row = await h.ctx.db.query(
      'SELECT config, secret_ciphertext FROM storage_versions WHERE tenant_id = $1',
      ['az-journey'],
    );
    const { config, secret_ciphertext: sealed } = row.rows[0];
    expect(JSON.stringify(config)).not.toContain(tenant.clientSecret);
    expect(Buffer.isBuffer(sealed) && sealed.length > 0).toBe(true);
    expect(sealed.includes(Buffer.from(tenant.clientSecret))).toBe(false);
  });

  it('stores only ciphertext under the tenant prefix, Hive-style, with a Content-MD5 of what is stored', async () => {
    const names = await blobs(tenant);
    // The audio blob and, beside it, its encrypted metadata sidecar; nothing else.
    expect(names).toHaveLength(2);
    expect(names[0]).toMatch(
      new RegExp(`^${tenant.prefix}/year=\\d{4}/month=\\d{2}/day=\\d{2}/${id}\\.esdk$`),
    );
    expect(names[1]).toBe(names[0]!.replace(/\.esdk$/, '.meta.json.esdk'));
    const blob = world.azurite.serviceClient().getContainerClient(tenant.container).getBlobClient(names[0]!);
    const stored = await blob.downloadToBuffer();
    for (let at = 0; at + 32 <= audio.length; at += 997 * 31)
      expect(stored.includes(audio.subarray(at, at + 32))).toBe(false);
    const props = await blob.getProperties();
    expect(Buffer.from(props.contentMD5!).toString('base64')).toBe(
      createHash('md5').update(stored).digest('base64'),
    );
    const rec = (await api(h, 'GET', `/v1/recordings/${id}`, { token: tenant.key })).body;
    expect(rec.storage).toMatchObject({ provider: 'azure-blob', storageVersion: 1 });
    expect(rec.storage.keyId).toMatch(new RegExp(`^${tenant.keyId}/[0-9a-f]{32}$`));
    expect(rec.sha256).toBe(sha256(audio));
  });

  it('plays back through a signed link, whole and by ranges', async () => {
    const link = await api(h, 'POST', `/v1/recordings/${id}/playback-link`, { token: tenant.key, json: {} });
    const whole = await api(h, 'GET', link.body.url, { token: null });
    expect(whole.status).toBe(200);
    expect(whole.bytes.equals(audio)).toBe(true);
    for (const [a, b] of [
      [0, 0],
      [FRAME - 3, FRAME + 3],
      [2 * FRAME, audio.length - 1],
    ] as const) {
      const part = await api(h, 'GET', link.body.url, { token: null, headers: { range: `bytes=${a}-${b}` } });
      expect(part.status).toBe(206);
      expect(part.bytes.equals(audio.subarray(a, b + 1))).toBe(true);
    }
  });

  it('costs one token per scope, not per recording, and one wrapKey per recording', async () => {
    world.azure.resetCounts();
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await postRecording(h, tenant.key, randomBytes(3000))).body.id);
    for (const r of ids) await waitForStatus(h, tenant.key, r, ['stored']);
    expect(world.azure.counts.token).toBe(0);
    expect(world.azure.counts.wrapKey).toBe(10);
    expect(world.azure.counts.unwrapKey).toBe(0);
  });

  it('registers with a client certificate instead of a secret', async () => {
    const t = await setupAzureTenant(h, world, 'az-cert', { register: false });
    const res = await api(h, 'PUT', '/v1/tenants/az-cert/storage', {
      json: azureBody(world, t, { certificate: true }),
    });
    expect(res.status, res.bytes.toString()).toBe(200);
    const s = await api(h, 'GET', '/v1/tenants/az-cert/storage');
    expect(s.body.active.config.credentialType).toBe('client-certificate');
    expect(s.bytes.toString()).not.toContain('PRIVATE KEY');
    const recId = (await postRecording(h, t.key, randomBytes(5000))).body.id;
    await waitForStatus(h, t.key, recId, ['stored']);
  });
});
