import { ClientCertificateCredential, ClientSecretCredential, type TokenCredential } from '@azure/identity';

/** The tenant's service principal, as registered (the secret half opened from its sealed form). */
export interface ServicePrincipal {
  entraTenantId: string;
  clientId: string;
  clientSecret?: string;
  /** PEM holding the certificate and its private key. */
  clientCertificatePem?: string;
}

export interface EntraOptions {
  /** Entra ID authority (sovereign clouds, stand-ins). @defaultValue the public cloud */
  authorityHost?: string;
  /** `true` for custom authorities, which instance discovery does not know. */
  disableInstanceDiscovery: boolean;
}

/**
 * A credential for the tenant's service principal in its own Entra tenant. The
 * credential caches its tokens (per scope) until shortly before expiry, so one instance
 * per storage version serves every recording; never one token request per call.
 * Only the tenant's own Entra tenant is accepted (no multi-tenant hopping).
 */
export function servicePrincipalCredential(sp: ServicePrincipal, options: EntraOptions): TokenCredential {
  const common = {
    ...(options.authorityHost ? { authorityHost: options.authorityHost } : {}),
    disableInstanceDiscovery: options.disableInstanceDiscovery,
    additionallyAllowedTenants: [],
  };
  if (sp.clientSecret !== undefined && sp.clientCertificatePem !== undefined)
    throw new TypeError('a service principal has a client secret or a certificate, not both');
  if (sp.clientSecret !== undefined)
    return new ClientSecretCredential(sp.entraTenantId, sp.clientId, sp.clientSecret, common);
  if (sp.clientCertificatePem !== undefined) {
    return new ClientCertificateCredential(
      sp.entraTenantId,
      sp.clientId,
      { certificate: sp.clientCertificatePem },
      { ...common, sendCertificateChain: true },
    );
  }
  throw new TypeError('a service principal needs a client secret or a certificate');
}

/** Token scopes Custody asks for: the data plane of Blob storage and of Key Vault. */
export const STORAGE_SCOPE = 'https://storage.azure.com/.default';
export const KEYVAULT_SCOPE = 'https://vault.azure.net/.default';
