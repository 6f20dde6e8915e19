import path from 'node:path';
import type { KeyProvider, KeyProviderFactory } from '../../src/keys/key-provider.js';
import { loadOrCreateMasterKey, LocalKeyProvider } from '../../src/keys/local/index.js';
import { KeyProviderRegistry } from '../../src/keys/registry.js';
import { CountingKeyring } from './counting-keyring.js';

/**
 * A key-provider registry whose `local` providers count wraps and unwraps at the keyring
 * itself — the provider's side of the wire, independent of the service's own metrics.
 */
export function countingLocalKeys(dataDir: string): {
  registry: KeyProviderRegistry;
  counters: Map<string, CountingKeyring>;
} {
  const counters = new Map<string, CountingKeyring>();
  const factory: KeyProviderFactory = {
    kind: 'local',
    async create(tenantId: string): Promise<KeyProvider> {
      const master = await loadOrCreateMasterKey(path.join(dataDir, 'local-master.key'), { warn: () => {} });
      const inner = new LocalKeyProvider(master, tenantId);
      let counting = counters.get(tenantId);
      if (!counting) {
        counting = new CountingKeyring(inner.keyring());
        counters.set(tenantId, counting);
      }
      const keyring = counting;
      return { kind: inner.kind, keyId: inner.keyId, keyring: () => keyring };
    },
  };
  return { registry: new KeyProviderRegistry().register(factory), counters };
}
