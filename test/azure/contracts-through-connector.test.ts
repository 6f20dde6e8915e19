import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { registerAzure } from '../../src/azure/connector.js';
import { loadConfig } from '../../src/config/index.js';
import type { ProviderPlan } from '../../src/domain/storage/plans/plan.js';
import { KeyProviderRegistry } from '../../src/keys/registry.js';
import { StorageRegistry } from '../../src/storage/registry.js';
import { keyProviderContract } from '../contract/key-provider.suite.js';
import { storageTargetContract } from '../contract/storage-target.suite.js';
import { type AzureWorld, startAzureWorld } from '../support/azure-world.js';

/**
 * The core's contract suites, unchanged, against Azure as production wires it
 * (`registerAzure`): the tenant's service principal from its sealed-at-registration
 * secret, tokens from the Entra stand-in, Blob over HTTPS to Azurite in OAuth mode and
 * Key Vault through the SSRF-guarded agents.
 */
let world: AzureWorld;
let storageTargets: StorageRegistry;
let keyProviders: KeyProviderRegistry;
let plan: ProviderPlan;
let n = 0;

beforeAll(async () => {
  world = await startAzureWorld();
  storageTargets = new StorageRegistry();
  keyProviders = new KeyProviderRegistry();
  plan = registerAzure(loadConfig({ ...process.env, ...world.env }, 'worker'), {
    storageTargets,
    keyProviders,
  });
});
afterAll(() => world?.stop());

/** A tenant's app, container and key as its admin would create them; the version's config and connection. */
async function tenant(tenantId: string) {
  const clientId = randomUUID();
  const clientSecret = `s-${randomUUID()}`;
  world.azure.addApp({ entraTenantId: world.azure.vaultTenantId, clientId, clientSecret });
  const keyName = `contract-${++n}`;
  const versioned = world.azure.createKey(keyName);
  world.azure.grant(keyName, clientId, ['get', 'wrapKey', 'unwrapKey']);
  const container = `contract-${n}`;
  await world.azurite.createContainer(container);
  const request = {
    provider: 'azure-blob',
    accountUrl: world.azurite.accountUrl,
    container,
    prefix: `t/${tenantId}`,
    keyId: versioned,
    credential: { entraTenantId: world.azure.vaultTenantId, clientId, clientSecret },
  };
  const { config, secrets } = plan.split(request, {} as never);
  const connection = plan.connect!(tenantId, config, secrets);
  return { config, connection, versioned };
}

storageTargetContract(
  'azure-blob through the connector (service principal, OAuth, guarded agent)',
  async () => {
    const { config, connection } = await tenant('contract-blob');
    const target = await storageTargets.create(
      'azure-blob',
      'contract-blob',
      plan.storageConfig!(config, connection),
    );
    return { target, cleanup: async () => {} };
  },
);

keyProviderContract('azure-keyvault through the connector (service principal, guarded agent)', async () => {
  const mine = await tenant('acme');
  const other = await tenant('acme-corp');
  const create = (id: string, t: typeof mine) =>
    keyProviders.create('azure-keyvault', id, plan.keyConfig!(t.config, t.connection));
  return {
    tenantId: 'acme',
    otherTenantId: 'acme-corp',
    provider: await create('acme', mine),
    otherTenantProvider: await create('acme-corp', other),
    reopen: () => create('acme', mine),
    expectedDataKey: { providerId: 'azure-keyvault', providerInfo: mine.versioned },
    cleanup: async () => {},
  };
});
