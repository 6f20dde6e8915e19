import type { Readable } from 'node:stream';
import { type LocalStorageConfig, LocalStorageFactory } from '../../src/storage/local/index.js';
import type { PutOptions, StorageTarget, StorageTargetFactory } from '../../src/storage/storage-target.js';
import { StorageRegistry } from '../../src/storage/registry.js';

/** Called before the n-th put (1-based) of `key` starts; the put waits for it. */
export type PutGate = (key: string, n: number) => Promise<void>;

/**
 * The real `local` target, with a hook in front of every put so a test can hold one
 * upload while another attempt at the same object runs (the interleavings of duplicate
 * jobs that a wiped Redis or an expired lock can produce). `rootDir` is read lazily: the
 * harness makes its data dir only after the overrides are passed in.
 */
export class GatedLocalStorage implements StorageTargetFactory<LocalStorageConfig> {
  readonly provider = 'local';
  gate: PutGate | undefined;
  readonly puts = new Map<string, number>();

  constructor(private readonly rootDir: () => string) {}

  registry(): StorageRegistry {
    return new StorageRegistry().register(this);
  }

  async create(tenantId: string, config: LocalStorageConfig): Promise<StorageTarget> {
    return this.wrap(await new LocalStorageFactory(this.rootDir()).create(tenantId, config));
  }

  async open(tenantId: string, config: LocalStorageConfig): Promise<StorageTarget> {
    return this.wrap(await new LocalStorageFactory(this.rootDir()).open(tenantId, config));
  }

  private wrap(target: StorageTarget): StorageTarget {
    return {
      provider: target.provider,
      locationOf: (key) => target.locationOf(key),
      put: async (key: string, body: Readable, options?: PutOptions) => {
        const n = (this.puts.get(key) ?? 0) + 1;
        this.puts.set(key, n);
        await this.gate?.(key, n);
        return target.put(key, body, options);
      },
      head: (key, options) => target.head(key, options),
      get: (key, options) => target.get(key, options),
      delete: (key, options) => target.delete(key, options),
      list: (prefix, options) => target.list(prefix, options),
    };
  }
}
