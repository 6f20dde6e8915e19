import type { z } from 'zod';
import type { TenantRow } from '../../../db/tenants.js';
import type { ResolvedStorage } from '../resolver.js';

/** A handshake step a provider adds before the key and storage calls (`assume-role`, `token`). */
export interface PreflightStep {
  name: string;
  run(storage: ResolvedStorage): Promise<void>;
}

/** The handshake's provider-specific part: extra steps and the names its key calls go by. */
export interface HandshakeNames {
  /** Run first, in order, before any key or storage call. */
  preflight?: PreflightStep[];
  /**
   * When set, the key provider's `check()` is a step of its own under this name (Azure
   * `get-key`); otherwise it runs as part of the wrap step (AWS DescribeKey).
   */
  keyCheck?: string;
  /** Wraps a fresh data key under the tenant's key. */
  wrap: string;
  /** Unwraps it again from the probe read back. */
  unwrap: string;
  /** Whether a `head-probe` step checks the stored size between put and get. */
  headProbe: boolean;
  /**
   * The name of the step, right after `put-probe`, that checks the bucket or container can
   * enforce WORM (`object-lock`, `immutability`). It runs only for versions registered with
   * WORM (their target has `checkWorm`); the probe itself is put without retention, so it
   * stays deletable.
   */
  worm?: string;
}

/**
 * One entry per storage provider a tenant can register: the PUT body it accepts, how
 * that body splits into clear config and sealed secrets, which storage target and key
 * provider kinds serve it and what each gets. AWS (`s3` + `aws-kms`) and Azure
 * (`azure-blob` + `azure-keyvault`) add one entry each.
 */
export interface ProviderPlan {
  provider: string;
  storageKind: string;
  keyKind: string;
  request: z.ZodObject;
  /**
   * Non-secret config (stored in clear on the immutable storage version, returned by GET)
   * and write-only secrets (sealed at rest, never returned). `tenant` supplies what the
   * service holds for the tenant (the AWS ExternalId), so a version records everything
   * it was verified with.
   */
  split(
    request: Record<string, unknown>,
    tenant: TenantRow,
  ): {
    config: Record<string, unknown>;
    secrets?: Record<string, unknown>;
  };
  /**
   * Live objects the target and the key provider of one version share, built from its
   * config and opened secrets (Azure: the service principal's credential and its token
   * cache). Passed to `storageConfig`/`keyConfig`.
   */
  connect?(
    tenantId: string,
    config: Record<string, unknown>,
    secrets: Record<string, unknown> | undefined,
  ): Record<string, unknown>;
  /** The config the storage target factory gets. @defaultValue config and connection merged */
  storageConfig?(
    config: Record<string, unknown>,
    connection: Record<string, unknown>,
  ): Record<string, unknown>;
  /** The config the key provider factory gets. @defaultValue config and connection merged */
  keyConfig?(config: Record<string, unknown>, connection: Record<string, unknown>): Record<string, unknown>;
  /** Tenant-supplied URLs in the request, by field name: each passes the SSRF guard first. */
  urls?(request: Record<string, unknown>): Record<string, string>;
  /** Provider rules on those hosts (Key Vault hosts only); throws 400 ENDPOINT_NOT_ALLOWED. */
  hosts?(request: Record<string, unknown>, allow: readonly string[]): void;
  /**
   * The config to record once the handshake passed (Azure pins the key version the
   * handshake resolved). @defaultValue the config as registered
   */
  pin?(config: Record<string, unknown>, storage: ResolvedStorage): Record<string, unknown>;
  handshake: HandshakeNames;
}
