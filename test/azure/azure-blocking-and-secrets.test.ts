import { createHash } from 'node:crypto';
import { buildClient, CommitmentPolicy, KeyringNode, KeyringTraceFlag } from '@aws-crypto/client-node';
import type { NodeDecryptionMaterial, EncryptedDataKey } from '@aws-crypto/client-node';
import { ClientSecretCredential } from '@azure/identity';
import { CryptographyClient } from '@azure/keyvault-keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AzureTenant,
  type AzureWorld,
  setupAzureTenant,
  startAzureHarness,
} from '../support/azure-world.js';
import { api } from '../support/client.js';
import { capturedLogger } from '../support/captured-log.js';
import type { Harness } from '../support/harness.js';
import { expectBlockedThenDrained, postMany } from '../support/key-outage.js';
import { waitForAll } from '../support/observe.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('Azure: key disabled mid-run, the secret never shown or logged, tenant-side decrypt', () => {
  let world: AzureWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let tenant: AzureTenant;
  const logs = capturedLogger();
  const responses: Buffer[] = [];

  beforeAll(async () => {
    ({ world, h, close } = await startAzureHarness({
      env: { CUSTODY_BLOCKED_RETRY_SECONDS: '1', LOG_LEVEL: 'trace' },
      log: logs.log,
    }));
    tenant = await setupAzureTenant(h, world, 'az-block');
  });
  afterAll(async () => {
    await close?.();
  });

  it('blocks with KeyDisabled keeping the spooled copies, then drains to stored', async () => {
    await expectBlockedThenDrained(h, tenant, {
      code: 'KeyDisabled',
      breakKey: () => world.azure.disableKey(tenant.keyName),
      fixKey: () => world.azure.enableKey(tenant.keyName),
    });
  });

  it('a blob downloaded from Azurite decrypts with the documented keyring and the tenant’s own identity', async () => {
    const [rec] = await postMany(h, tenant.key, 1, 70_000);
    await waitForAll(h, tenant.key, [rec!.id], ['stored']);
    const container = world.azurite.serviceClient().getContainerClient(tenant.container);
    let name = '';
    for await (const b of container.listBlobsFlat({ prefix: `${tenant.prefix}/` }))
      if (b.name.endsWith(`/${rec!.id}.esdk`)) name = b.name;
    const stored = await container.getBlobClient(name).downloadToBuffer();

    // docs/format.md, "Unwrapping without Custody": the ESDK plus one unwrapKey call.
    const myKey = `${tenant.keyId}/`;
    const credential = new ClientSecretCredential(
      world.azure.vaultTenantId,
      tenant.clientId,
      tenant.clientSecret,
      {
        ...world.azure.credentialOptions(),
      },
    );
    class KeyVaultUnwrapKeyring extends KeyringNode {
      async _onEncrypt(): Promise<never> {
        throw new Error('decrypt only');
      }
      async _onDecrypt(material: NodeDecryptionMaterial, edks: EncryptedDataKey[]) {
        const edk = edks.find((e) => e.providerId === 'azure-keyvault' && e.providerInfo.startsWith(myKey));
        if (!edk) throw new Error('not wrapped by my key');
        const alg = edk.encryptedDataKey.length >= 256 ? 'RSA-OAEP-256' : 'A256KW';
        const client = new CryptographyClient(edk.providerInfo, credential, {
          disableChallengeResourceVerification: true,
        });
        const { result } = await client.unwrapKey(alg, edk.encryptedDataKey);
        return material.setUnencryptedDataKey(new Uint8Array(result), {
          keyNamespace: edk.providerId,
          keyName: edk.providerInfo,
          flags: KeyringTraceFlag.WRAPPING_KEY_DECRYPTED_DATA_KEY,
        });
      }
    }
    const { decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
    const { plaintext, messageHeader } = await decrypt(new KeyVaultUnwrapKeyring(), stored);
    expect(sha256(Buffer.from(plaintext))).toBe(sha256(rec!.audio));
    expect(messageHeader.encryptionContext).toMatchObject({
      'custody:tenant': 'az-block',
      'custody:recording': rec!.id,
    });
    // Its metadata sidecar, beside it, opens the same way (the same wrapped data key).
    const sidecar = await container
      .getBlobClient(name.replace(/\.esdk$/, '.meta.json.esdk'))
      .downloadToBuffer();
    const meta = await decrypt(new KeyVaultUnwrapKeyring(), sidecar);
    expect(JSON.parse(Buffer.from(meta.plaintext).toString('utf8'))).toMatchObject({
      recordingId: rec!.id,
      sha256: sha256(rec!.audio),
    });
  });

  it('never returns the client secret, and never logs it, over a full run', async () => {
    // Every tenant-facing read of the storage and the recordings.
    for (const path of [
      '/v1/tenants/az-block/storage',
      '/v1/tenants/az-block/audit?limit=1000',
      '/openapi.json',
    ])
      responses.push((await api(h, 'GET', path)).bytes);
    responses.push((await api(h, 'GET', '/v1/recordings?limit=100', { token: tenant.key })).bytes);
    // A failed re-registration with the wrong secret logs its failure, without the secrets.
    const bad = await api(h, 'PUT', '/v1/tenants/az-block/storage', {
      json: {
        provider: 'azure-blob',
        accountUrl: world.azurite.accountUrl,
        container: tenant.container,
        keyId: tenant.keyId,
        credential: {
          entraTenantId: world.azure.vaultTenantId,
          clientId: tenant.clientId,
          clientSecret: `${tenant.clientSecret}-wrong`,
        },
      },
    });
    expect(bad.status).toBe(422);
    responses.push(bad.bytes);
    for (const body of responses) expect(body.toString()).not.toContain(tenant.clientSecret);

    const text = logs.text();
    // The run was logged (the handshake failure, transfers, blocked recordings)...
    expect(text).toContain('az-block');
    expect(text.length).toBeGreaterThan(1000);
    // ...and neither secret appears anywhere in it.
    expect(text).not.toContain(tenant.clientSecret);
  });
});
