import type { StorageTarget, StorageTargetFactory } from './storage-target.js';

/**
 * Picks the storage target factory for a tenant's configured provider. Adding Google
 * Cloud Storage later is one new folder plus one `register` call at start-up.
 * Configs arrive already validated (the storage config schema), so they pass through as is.
 */
export class StorageRegistry {
  readonly #factories = new Map<string, StorageTargetFactory<never>>();

  register<C>(factory: StorageTargetFactory<C>): this {
    if (this.#factories.has(factory.provider)) {
      throw new Error(`storage provider "${factory.provider}" is already registered`);
    }
    this.#factories.set(factory.provider, factory as StorageTargetFactory<never>);
    return this;
  }

  has(provider: string): boolean {
    return this.#factories.has(provider);
  }

  providers(): string[] {
    return [...this.#factories.keys()];
  }

  async create(provider: string, tenantId: string, config: unknown): Promise<StorageTarget> {
    const factory = this.#factories.get(provider);
    if (!factory) {
      const known = this.providers().join(', ') || 'none';
      throw new Error(`no storage provider registered for "${provider}" (registered: ${known})`);
    }
    return factory.create(tenantId, config as never);
  }

  /** A target for a registered storage version (see `StorageTargetFactory.open`). */
  async open(provider: string, tenantId: string, config: unknown): Promise<StorageTarget> {
    const factory = this.#factories.get(provider);
    if (!factory?.open) return this.create(provider, tenantId, config);
    return factory.open(tenantId, config as never);
  }
}
