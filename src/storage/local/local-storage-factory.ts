import { mkdir } from 'node:fs/promises';
import type { StorageTarget, StorageTargetFactory } from '../storage-target.js';
import { mapFsError } from './fs-errors.js';
import { LocalStorageTarget } from './local-storage-target.js';
import { DEFAULT_LOCAL_PATH } from './paths.js';

/** A tenant's `local` registration: `path` is one segment under the tenant's directory. */
export interface LocalStorageConfig {
  /** `^[a-z0-9][a-z0-9._-]{0,62}$`. @defaultValue `'default'` */
  path?: string;
}

/**
 * Builds `local` targets under `CUSTODY_LOCAL_STORAGE_DIR`. `create` makes the tenant's
 * directory (the registration is the moment the "bucket" comes into being); afterwards a
 * missing directory is reported as `NoSuchBucket`, never silently recreated.
 */
export class LocalStorageFactory implements StorageTargetFactory<LocalStorageConfig> {
  readonly provider = 'local';

  constructor(readonly rootDir: string) {}

  async create(tenantId: string, config: LocalStorageConfig): Promise<StorageTarget> {
    const target = new LocalStorageTarget(this.rootDir, tenantId, config.path ?? DEFAULT_LOCAL_PATH);
    try {
      await mkdir(target.root, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw mapFsError(err, 'create local storage directory');
    }
    return target;
  }

  /** A registered tenant's target; a directory removed since is `NoSuchBucket`, not recreated. */
  async open(tenantId: string, config: LocalStorageConfig): Promise<StorageTarget> {
    return new LocalStorageTarget(this.rootDir, tenantId, config.path ?? DEFAULT_LOCAL_PATH);
  }
}
