import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { KeyProvider, KeyProviderFactory } from '../../../src/keys/key-provider.js';
import { LocalKeyProviderFactory } from '../../../src/keys/local/local-key-provider.js';
import { KeyProviderRegistry } from '../../../src/keys/registry.js';

describe('KeyProviderRegistry', () => {
  it('creates providers through the factory registered for the kind', async () => {
    const registry = new KeyProviderRegistry().register(new LocalKeyProviderFactory(randomBytes(32)));
    const provider = await registry.create('local', 'acme', { provider: 'local' });
    expect(provider.kind).toBe('local');
    expect(provider.keyId).toBe('custody-local/tenant/acme');
    expect(registry.kinds()).toEqual(['local']);
    expect(registry.has('aws-kms')).toBe(false);
  });

  it('passes tenant and config through to the factory', async () => {
    const seen: unknown[] = [];
    const fake: KeyProviderFactory<{ arn: string }> = {
      kind: 'fake',
      create: async (tenantId, config) => {
        seen.push([tenantId, config]);
        return { kind: 'fake', keyId: config.arn, keyring: () => ({}) as never } satisfies KeyProvider;
      },
    };
    const registry = new KeyProviderRegistry().register(fake);
    await registry.create('fake', 'acme', { arn: 'arn:1' });
    expect(seen).toEqual([['acme', { arn: 'arn:1' }]]);
  });

  it('rejects an unknown kind, naming it and the registered ones', async () => {
    const registry = new KeyProviderRegistry().register(new LocalKeyProviderFactory(randomBytes(32)));
    await expect(registry.create('azure-keyvault', 'acme', {})).rejects.toThrow(
      /no key provider registered for kind "azure-keyvault" \(registered: local\)/,
    );
  });

  it('refuses to register one kind twice', () => {
    const registry = new KeyProviderRegistry().register(new LocalKeyProviderFactory(randomBytes(32)));
    expect(() => registry.register(new LocalKeyProviderFactory(randomBytes(32)))).toThrow(
      /already registered/,
    );
  });
});
