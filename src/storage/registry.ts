import { NamedRegistry } from '../util/named-registry.js';
import type { StorageTarget, StorageTargetFactory } from './storage-target.js';

/**
 * Picks the storage target factory for a tenant's configured provider. Adding Google
 * Cloud Storage later is one new folder plus one `register` call at start-up.
 */
export class StorageRegistry extends NamedRegistry<StorageTargetFactory<never>> {
  constructor() {
    super('storage provider', '', (f) => f.provider);
  }

  register<C>(factory: StorageTargetFactory<C>): this {
    this.add(factory as StorageTargetFactory<never>);
    return this;
  }

  providers(): string[] {
    return this.names();
  }

  async create(provider: string, tenantId: string, config: unknown): Promise<StorageTarget> {
    return this.require(provider).create(tenantId, config as never);
  }

  /** A target for a registered storage version (see `StorageTargetFactory.open`). */
  async open(provider: string, tenantId: string, config: unknown): Promise<StorageTarget> {
    const factory = this.require(provider);
    return factory.open ? factory.open(tenantId, config as never) : factory.create(tenantId, config as never);
  }
}
