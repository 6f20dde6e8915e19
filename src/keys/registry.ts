import type { KeyProvider, KeyProviderFactory } from './key-provider.js';

/**
 * Picks the key provider factory for a tenant's configured kind. Adding AWS KMS or Azure
 * Key Vault is one new folder plus one `register` call at start-up; nothing else changes.
 * Configs arrive already validated (the storage config schema), so they pass through as is.
 */
export class KeyProviderRegistry {
  readonly #factories = new Map<string, KeyProviderFactory<never>>();

  register<C>(factory: KeyProviderFactory<C>): this {
    if (this.#factories.has(factory.kind)) {
      throw new Error(`key provider kind "${factory.kind}" is already registered`);
    }
    this.#factories.set(factory.kind, factory as KeyProviderFactory<never>);
    return this;
  }

  has(kind: string): boolean {
    return this.#factories.has(kind);
  }

  kinds(): string[] {
    return [...this.#factories.keys()];
  }

  async create(kind: string, tenantId: string, config: unknown): Promise<KeyProvider> {
    const factory = this.#factories.get(kind);
    if (!factory) {
      const known = this.kinds().join(', ') || 'none';
      throw new Error(`no key provider registered for kind "${kind}" (registered: ${known})`);
    }
    return factory.create(tenantId, config as never);
  }
}
