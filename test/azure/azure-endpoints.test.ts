import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../integration/contract-helpers.js';
import { type AzureWorld, azureBody, setupAzureTenant, startAzureHarness } from '../support/azure-world.js';
import { api } from '../support/client.js';
import type { Harness } from '../support/harness.js';

/**
 * `accountUrl` and `keyId` are tenant-supplied URLs: the SSRF guard refuses local,
 * metadata and private addresses, and `keyId` must also be a Key Vault or Managed HSM
 * host (the vault token must not go to a host that only claims to be a vault). Nothing
 * is contacted and nothing registered. The operator here allows only 127.0.0.1.
 */
describe('SSRF and vault-host rules on accountUrl and keyId', () => {
  let world: AzureWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let n = 0;

  beforeAll(async () => {
    ({ world, h, close } = await startAzureHarness({ workers: false }));
  });
  afterAll(async () => {
    await close?.();
  });

  const cases: [string, (b: ReturnType<typeof azureBody>) => void][] = [
    ['accountUrl at the metadata address', (b) => (b.accountUrl = 'http://169.254.169.254/metadata')],
    ['accountUrl on loopback by name', (b) => (b.accountUrl = 'https://localhost:10000/devstoreaccount1')],
    ['accountUrl on a private address', (b) => (b.accountUrl = 'https://10.0.0.7/acct')],
    ['keyId on a host that is not a vault', (b) => (b.keyId = 'https://keys.example.com/keys/recordings')],
    ['keyId at the metadata address', (b) => (b.keyId = 'https://169.254.169.254/keys/recordings')],
    ['keyId on a look-alike vault host', (b) => (b.keyId = 'https://vault.azure.net.example.com/keys/k')],
  ];

  for (const [what, change] of cases) {
    it(`refuses ${what} with 400 ENDPOINT_NOT_ALLOWED`, async () => {
      const t = await setupAzureTenant(h, world, `az-ssrf-${++n}`, { register: false });
      const body = azureBody(world, t);
      change(body);
      world.azure.resetCounts();
      const res = await api(h, 'PUT', `/v1/tenants/${t.tenantId}/storage`, { json: body });
      expectProblem(res, 400, 'ENDPOINT_NOT_ALLOWED');
      expect(world.azure.counts.token).toBe(0);
      expect((await api(h, 'GET', `/v1/tenants/${t.tenantId}/storage`)).body.active).toBeNull();
    });
  }
});
