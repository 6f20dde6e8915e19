import type { TokenCredential } from '@azure/identity';
import { z } from 'zod';
import {
  KEYVAULT_SCOPE,
  STORAGE_SCOPE,
  type EntraOptions,
  servicePrincipalCredential,
} from '../../../azure/credentials.js';
import { tokenFailureOf } from '../../../azure/identity-errors.js';
import { StorageError } from '../../../errors.js';
import { assertKeyVaultHost } from '../../../security/vault-hosts.js';
import type { ProviderPlan } from './plan.js';
import { tenantPrefix } from './prefix.js';

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** An Entra tenant: its GUID, or a verified domain (contoso.onmicrosoft.com). */
const ENTRA_TENANT =
  /^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[a-z0-9][a-z0-9.-]{1,253}\.[a-z]{2,})$/;
/** Container naming rules: 3–63 of [a-z0-9-], starting and ending alphanumeric, no `--`. */
const CONTAINER = /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
/** `https://<vault host>/keys/<name>[/<version>]`, as Key Vault and Managed HSM print key ids. */
const KEY_PATH = /^\/keys\/[A-Za-z0-9-]{1,127}(\/[0-9a-fA-F]{32})?\/?$/;

export const azureRequest = z
  .object({
    provider: z.literal('azure-blob'),
    accountUrl: z.url({ protocol: /^https?$/ }).max(2048),
    container: z.string().regex(CONTAINER, 'a container name (3-63 characters of a-z, 0-9, "-")'),
    prefix: tenantPrefix.optional(),
    keyId: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .refine((u) => KEY_PATH.test(new URL(u).pathname), {
        message: 'a Key Vault key URL: https://<vault>.vault.azure.net/keys/<name>[/<version>]',
      }),
    credential: z
      .object({
        entraTenantId: z.string().regex(ENTRA_TENANT, 'the Entra tenant id (a GUID) or domain'),
        clientId: z.string().regex(GUID, 'the application (client) id, a GUID'),
        clientSecret: z.string().min(1).max(1024).optional(),
        clientCertificatePem: z
          .string()
          .max(64 * 1024)
          .regex(/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'a PEM with the certificate and its private key')
          .optional(),
      })
      .strict()
      .refine((c) => (c.clientSecret === undefined) !== (c.clientCertificatePem === undefined), {
        message: 'exactly one of clientSecret and clientCertificatePem',
      }),
    /** Opt-in WORM: recordings carry a version-level immutability policy until they expire. */
    immutability: z
      .object({ mode: z.enum(['Unlocked', 'Locked']) })
      .strict()
      .optional(),
  })
  .strict();

type AzureRequest = z.infer<typeof azureRequest>;

const credentialOf = (connection: Record<string, unknown>) => connection.credential as TokenCredential;

/** A failed token request, as a StorageError the handshake can name (AADSTS code first). */
function tokenError(err: unknown): StorageError {
  const failure = tokenFailureOf(err);
  const code = failure?.code ?? 'TokenRequestFailed';
  return new StorageError(
    failure && !failure.transient ? 'access-denied' : 'transient',
    code,
    `the service principal could not get a token${failure?.what ? `: ${failure.what}` : ''} (${code})`,
    { cause: err },
  );
}

/**
 * The tenant's Blob container and Key Vault key, reached as a service principal of the
 * tenant's own Entra tenant. The secret (or certificate) is write-only: sealed at rest
 * with the version, opened only to build the credential; the key id is pinned to the
 * version the handshake resolved, so rotation in the vault is a new registration.
 */
export function azurePlan(entra: EntraOptions): ProviderPlan {
  return {
    provider: 'azure-blob',
    storageKind: 'azure-blob',
    keyKind: 'azure-keyvault',
    request: azureRequest,
    split: (raw) => {
      const r = raw as AzureRequest;
      const config: Record<string, unknown> = {
        accountUrl: r.accountUrl.replace(/\/+$/, ''),
        container: r.container,
        prefix: (r.prefix ?? '').replace(/\/+$/, ''),
        keyId: r.keyId.replace(/\/+$/, ''),
        entraTenantId: r.credential.entraTenantId,
        clientId: r.credential.clientId,
        credentialType: r.credential.clientSecret !== undefined ? 'client-secret' : 'client-certificate',
      };
      if (r.immutability !== undefined) config.immutability = { mode: r.immutability.mode };
      const secrets =
        r.credential.clientSecret !== undefined
          ? { clientSecret: r.credential.clientSecret }
          : { clientCertificatePem: r.credential.clientCertificatePem };
      return { config, secrets };
    },
    connect: (_tenantId, config, secrets) => ({
      credential: servicePrincipalCredential(
        {
          entraTenantId: String(config.entraTenantId),
          clientId: String(config.clientId),
          ...(secrets as { clientSecret?: string; clientCertificatePem?: string }),
        },
        entra,
      ),
    }),
    storageConfig: (c, connection) => ({
      accountUrl: c.accountUrl,
      container: c.container,
      prefix: c.prefix,
      credential: credentialOf(connection),
      ...(c.immutability !== undefined ? { immutability: c.immutability } : {}),
      // The same service principal on both sides: Azure may read one version's blobs for the other's.
      copyScope: JSON.stringify([entra.authorityHost ?? '', c.entraTenantId, c.clientId]),
    }),
    keyConfig: (c, connection) => ({ keyId: c.keyId, credential: credentialOf(connection) }),
    urls: (r): Record<string, string> => ({ accountUrl: String(r.accountUrl), keyId: String(r.keyId) }),
    hosts: (r, allow) => assertKeyVaultHost(String(r.keyId), 'keyId', allow),
    pin: (config, storage) => ({ ...config, keyId: storage.keys.keyId }),
    handshake: {
      preflight: [
        {
          name: 'token',
          run: async (storage) => {
            const credential = credentialOf(storage.connection);
            for (const scope of [STORAGE_SCOPE, KEYVAULT_SCOPE]) {
              try {
                await credential.getToken(scope);
              } catch (err) {
                throw tokenError(err);
              }
            }
          },
        },
      ],
      keyCheck: 'get-key',
      wrap: 'wrap-key',
      unwrap: 'unwrap-key',
      headProbe: false,
      worm: 'immutability',
    },
  };
}
