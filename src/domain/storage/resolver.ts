import { LRUCache } from 'lru-cache';
import { StorageError } from '../../errors.js';
import { getStorageVersion } from '../../db/storage-versions.js';
import type { Queryable } from '../../db/pool.js';
import type { KeyProvider } from '../../keys/key-provider.js';
import { type KeyCallObserver, observeKeyProvider } from '../../keys/instrumented.js';
import type { KeyProviderRegistry } from '../../keys/registry.js';
import type { StorageRegistry } from '../../storage/registry.js';
import type { StorageTarget } from '../../storage/storage-target.js';
import type { TenantSecrets } from '../../security/tenant-secrets.js';
import type { ProviderPlan } from './plans/plan.js';

/** A tenant's storage version, ready to use: where objects go and which key wraps them. */
export interface ResolvedStorage {
  tenantId: string;
  version: number;
  provider: string;
  plan: ProviderPlan;
  /** The version's config as stored (the handshake's preflight needs it). */
  config: Record<string, unknown>;
  /** What `plan.connect` built for this version (shared credentials); never serialised. */
  connection: Record<string, unknown>;
  target: StorageTarget;
  keys: KeyProvider;
}

/**
 * Builds targets and key providers for storage versions. Versions are immutable, so a
 * built pair is cached (credentials and clients are reused across recordings).
 */
export class StorageResolver {
  private readonly cache = new LRUCache<string, Promise<ResolvedStorage>>({ max: 1000 });

  constructor(
    private readonly db: Queryable,
    readonly plans: Map<string, ProviderPlan>,
    private readonly targets: StorageRegistry,
    private readonly keyProviders: KeyProviderRegistry,
    private readonly secrets: TenantSecrets,
    private readonly observe: KeyCallObserver = () => {},
  ) {}

  plan(provider: string): ProviderPlan | undefined {
    return this.plans.get(provider);
  }

  /** Builds from a config that is not (yet) a stored version: the registration handshake. */
  async build(
    tenantId: string,
    provider: string,
    config: Record<string, unknown>,
    secrets?: Record<string, unknown>,
  ): Promise<ResolvedStorage> {
    return this.assemble(tenantId, provider, config, secrets, 0, 'create');
  }

  /**
   * `create` at registration; `open` for a stored version, which must not bring back a
   * bucket (or `local` directory) that has gone since: that blocks, it does not succeed.
   */
  private async assemble(
    tenantId: string,
    provider: string,
    config: Record<string, unknown>,
    secrets: Record<string, unknown> | undefined,
    version: number,
    mode: 'create' | 'open',
  ): Promise<ResolvedStorage> {
    const plan = this.plans.get(provider);
    // A provider the operator switched off after recordings used it: playback answers 503
    // STORAGE_UNAVAILABLE and transfers keep retrying until it is back, never a bare 500.
    if (!plan) {
      throw new StorageError(
        'transient',
        'ProviderNotEnabled',
        `storage provider ${provider} is not enabled on this service`,
      );
    }
    const connection = plan.connect?.(tenantId, config, secrets) ?? {};
    const storageConfig = plan.storageConfig?.(config, connection) ?? { ...config, ...connection };
    const keyConfig = plan.keyConfig?.(config, connection) ?? { ...config, ...connection };
    const [target, keys] = await Promise.all([
      mode === 'create'
        ? this.targets.create(plan.storageKind, tenantId, storageConfig)
        : this.targets.open(plan.storageKind, tenantId, storageConfig),
      this.keyProviders.create(plan.keyKind, tenantId, keyConfig),
    ]);
    return {
      tenantId,
      version,
      provider,
      plan,
      config,
      connection,
      target,
      keys: observeKeyProvider(keys, this.observe),
    };
  }

  /** Drops every cached version of a tenant (its storage access was released at offboarding). */
  forget(tenantId: string): void {
    for (const id of [...this.cache.keys()]) if (id.startsWith(`${tenantId}/`)) this.cache.delete(id);
  }

  resolve(tenantId: string, version: number): Promise<ResolvedStorage> {
    const id = `${tenantId}/${version}`;
    let hit = this.cache.get(id);
    if (!hit) {
      hit = (async () => {
        const row = await getStorageVersion(this.db, tenantId, version);
        if (!row) throw new Error(`storage version ${id} does not exist`);
        const secrets = row.secret_ciphertext
          ? await this.secrets.open(tenantId, version, row.secret_ciphertext)
          : undefined;
        return this.assemble(tenantId, row.provider, row.config, secrets, version, 'open');
      })();
      hit.catch(() => this.cache.delete(id));
      this.cache.set(id, hit);
    }
    return hit;
  }
}
