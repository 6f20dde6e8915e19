import type { KeyringNode } from '@aws-crypto/material-management-node';
import { DefaultAzureCredential, type DefaultAzureCredentialClientIdOptions } from '@azure/identity';
import { AzureKeyVaultKeyring, requireKeyVaultKeyId } from '../keys/azure-keyvault/index.js';

/**
 * The tenant-side Key Vault keyring of `custody decrypt|inspect --azure-key-id <url>`:
 * the same keyring the service wraps with, unwrapping with the caller's own Azure
 * identity. `DefaultAzureCredential` takes the usual variables (AZURE_TENANT_ID,
 * AZURE_CLIENT_ID, AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH, AZURE_AUTHORITY_HOST
 * for sovereign clouds), else a managed identity or `az login`. Any version of the given
 * key unwraps, so a versionless URL is enough after rotations.
 *
 * Two switches, off unless set to `true`, exist for local stand-ins (and private clouds):
 * CUSTODY_AZURE_DISABLE_INSTANCE_DISCOVERY (authority not known to Entra's discovery) and
 * CUSTODY_KEYVAULT_DISABLE_CHALLENGE_VERIFICATION (vault host not under the challenge's resource).
 */
export function cliAzureKeyring(keyId: string, env: NodeJS.ProcessEnv = process.env): KeyringNode {
  requireKeyVaultKeyId(keyId); // a one-line usage error before any credential work
  const options: DefaultAzureCredentialClientIdOptions = {
    disableInstanceDiscovery: env.CUSTODY_AZURE_DISABLE_INSTANCE_DISCOVERY === 'true',
  };
  if (env.AZURE_AUTHORITY_HOST) options.authorityHost = env.AZURE_AUTHORITY_HOST;
  return new AzureKeyVaultKeyring({
    keyId,
    credential: new DefaultAzureCredential(options),
    clientOptions: {
      disableChallengeResourceVerification: env.CUSTODY_KEYVAULT_DISABLE_CHALLENGE_VERIFICATION === 'true',
    },
  });
}
