import { NamedRegistry } from '../util/named-registry.js';
import type { KeyProvider, KeyProviderFactory } from './key-provider.js';

/**
 * Picks the key provider factory for a tenant's configured kind. Adding AWS KMS or Azure
 * Key Vault is one new folder plus one `register` call at start-up; nothing else changes.
 */
export class KeyProviderRegistry extends NamedRegistry<KeyProviderFactory<never>> {
  constructor() {
    super('key provider', 'kind ', (f) => f.kind);
  }

  register<C>(factory: KeyProviderFactory<C>): this {
    this.add(factory as KeyProviderFactory<never>);
    return this;
  }

  kinds(): string[] {
    return this.names();
  }

  async create(kind: string, tenantId: string, config: unknown): Promise<KeyProvider> {
    return this.require(kind).create(tenantId, config as never);
  }
}
