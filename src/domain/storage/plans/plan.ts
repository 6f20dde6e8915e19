import type { z } from 'zod';
import type { TenantRow } from '../../../db/tenants.js';

/** Names of the handshake steps that depend on the provider (AWS names its KMS calls). */
export interface HandshakeNames {
  /** Runs first, before any key or storage call (e.g. `assume-role`). */
  preflight?: { name: string; run(tenantId: string, config: Record<string, unknown>): Promise<void> };
  /** Wraps a fresh data key under the tenant's key. */
  wrap: string;
  /** Unwraps it again from the probe read back. */
  unwrap: string;
}

/**
 * One entry per storage provider a tenant can register: the PUT body it accepts, how
 * that body splits into clear config and sealed secrets, which storage target and key
 * provider kinds serve it and what part of the config each gets. AWS (`s3` + `aws-kms`)
 * and Azure (`azure-blob` + `azure-keyvault`) add one entry each.
 */
export interface ProviderPlan {
  provider: string;
  storageKind: string;
  keyKind: string;
  request: z.ZodObject;
  /**
   * Non-secret config (stored in clear on the immutable storage version, returned by GET)
   * and write-only secrets (sealed). `tenant` supplies what the service holds for the
   * tenant (the AWS ExternalId), so a version records everything it was verified with.
   */
  split(
    request: Record<string, unknown>,
    tenant: TenantRow,
  ): {
    config: Record<string, unknown>;
    secrets?: Record<string, unknown>;
  };
  /** The config the storage target factory gets. @defaultValue the whole config */
  storageConfig?(config: Record<string, unknown>): Record<string, unknown>;
  /** The config the key provider factory gets. @defaultValue the whole config */
  keyConfig?(config: Record<string, unknown>): Record<string, unknown>;
  /** Tenant-supplied URLs in the request, by field name: each passes the SSRF guard first. */
  urls?(request: Record<string, unknown>): Record<string, string>;
  handshake: HandshakeNames;
}
