import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalKeyProviderFactory, loadOrCreateMasterKey } from '../../src/keys/local/index.js';
import { LocalStorageFactory } from '../../src/storage/local/index.js';
import { keyProviderContract } from './key-provider.suite.js';
import { storageTargetContract } from './storage-target.suite.js';

const quiet = { warn() {} };

async function tempDir(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'custody-contract-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

storageTargetContract('local', async () => {
  const { dir, cleanup } = await tempDir();
  const target = await new LocalStorageFactory(dir).create('acme', { path: 'recordings' });
  return { target, cleanup };
});

keyProviderContract('local', async () => {
  const { dir, cleanup } = await tempDir();
  const keyFile = path.join(dir, 'keys', 'local-master.key');
  const factory = new LocalKeyProviderFactory(await loadOrCreateMasterKey(keyFile, quiet));
  // `acme-corp` starts with `acme`: the raw keyring matches key names by prefix, so this
  // pair checks that a look-alike tenant still cannot unwrap.
  return {
    tenantId: 'acme',
    otherTenantId: 'acme-corp',
    provider: await factory.create('acme', {}),
    otherTenantProvider: await factory.create('acme-corp', {}),
    reopen: async () =>
      new LocalKeyProviderFactory(await loadOrCreateMasterKey(keyFile, quiet)).create('acme', {}),
    // providerInfo = key name, then tag length and IV length as big-endian uint32 (so a
    // NUL byte right after the name), then the IV.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the NUL ends the key name
    expectedDataKey: { providerId: 'custody-local', providerInfo: /^tenant\/acme\u0000/ },
    cleanup,
  };
});
