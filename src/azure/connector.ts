import type { Config } from '../config/index.js';
import type { ProviderPlan } from '../domain/storage/plans/plan.js';
import { azurePlan } from '../domain/storage/plans/azure-blob.js';
import { AzureKeyVaultKeyProviderFactory } from '../keys/azure-keyvault/index.js';
import type { KeyProviderRegistry } from '../keys/registry.js';
import { guardedAgents } from '../security/guarded-http.js';
import { AzureBlobStorageFactory } from '../storage/azure-blob/index.js';
import type { StorageRegistry } from '../storage/registry.js';

/**
 * Wires Azure in: each tenant's service principal (its own Entra tenant, secret or
 * certificate opened from the sealed version) gets one credential per storage version,
 * shared by its Blob client and its Key Vault keyring, each caching its tokens. Both
 * talk to tenant-supplied hosts, so every connection goes through the SSRF-guarded
 * agents (the address connected to is checked, not only the name). Entra ID itself is
 * the operator's authority (`AZURE_AUTHORITY_HOST`) and is not guarded.
 */
export function registerAzure(
  config: Config,
  registries: { storageTargets: StorageRegistry; keyProviders: KeyProviderRegistry },
): ProviderPlan {
  const { storageTargets, keyProviders } = registries;
  // One pair of agents for the process: keep-alive pools shared by every tenant's clients.
  const agents = guardedAgents(config.allowPrivateEndpoints);
  const agentFor = (url: URL) => (url.protocol === 'http:' ? agents.httpAgent : agents.httpsAgent);
  if (!storageTargets.has('azure-blob')) storageTargets.register(new AzureBlobStorageFactory({ agentFor }));
  if (!keyProviders.has('azure-keyvault')) {
    keyProviders.register(
      new AzureKeyVaultKeyProviderFactory({
        clientOptions: {
          // Vault URLs are https (the Key Vault host rule); stand-ins need the switch below.
          agent: agents.httpsAgent,
          disableChallengeResourceVerification: config.azure.disableChallengeResourceVerification,
        },
      }),
    );
  }
  return azurePlan({
    ...(config.azure.authorityHost ? { authorityHost: config.azure.authorityHost } : {}),
    disableInstanceDiscovery: config.azure.disableInstanceDiscovery,
  });
}
