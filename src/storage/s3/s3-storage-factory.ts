import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { StorageTarget, StorageTargetFactory } from '../storage-target.js';
import { type S3ChecksumMode, type S3ObjectLockMode, S3StorageTarget } from './s3-storage-target.js';

/** A tenant's `s3` registration. The bucket is the tenant's own; it is never created here. */
export interface S3Config {
  bucket: string;
  region: string;
  /** Key prefix of the tenant's objects in the bucket. @defaultValue `''` */
  prefix?: string;
  /** An S3-compatible endpoint. Unset: the SDK default, or `AWS_ENDPOINT_URL_S3` when set. */
  endpoint?: string;
  forcePathStyle?: boolean;
  /** @defaultValue `'default'` */
  checksumMode?: S3ChecksumMode;
  /** S3 Object Lock (WORM) for recordings; the bucket must have it enabled. */
  objectLock?: { mode: S3ObjectLockMode };
  /** The tenant's role and the ExternalId it requires (the `s3` plan sets both; `clientFor` uses them). */
  roleArn?: string;
  externalId?: string;
}

/**
 * Client settings for `config`, without credentials: a `clientFor` adds those (from STS
 * AssumeRole, say) and builds the client. The checksum settings follow `checksumMode`,
 * per storage, never globally.
 */
export function s3ClientConfig(config: S3Config): S3ClientConfig {
  const whenRequired = config.checksumMode === 'when-required';
  return {
    region: config.region,
    ...(config.endpoint !== undefined ? { endpoint: config.endpoint } : {}),
    ...(config.forcePathStyle !== undefined ? { forcePathStyle: config.forcePathStyle } : {}),
    ...(whenRequired
      ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }
      : {}),
  };
}

/**
 * Builds `s3` targets. Nothing is created in the tenant's bucket at registration, so
 * `create` and `open` are the same: a bucket that is missing shows up as `NoSuchBucket`
 * on the first operation.
 */
export class S3StorageFactory implements StorageTargetFactory<S3Config> {
  readonly provider = 's3';

  constructor(
    private readonly clientFor: (config: S3Config, tenantId: string) => S3Client = (config) =>
      new S3Client(s3ClientConfig(config)),
  ) {}

  async create(_tenantId: string, config: S3Config): Promise<StorageTarget> {
    return this.open(_tenantId, config);
  }

  async open(tenantId: string, config: S3Config): Promise<StorageTarget> {
    return new S3StorageTarget(this.clientFor(config, tenantId), {
      bucket: config.bucket,
      prefix: config.prefix ?? '',
      checksumMode: config.checksumMode ?? 'default',
      ...(config.objectLock ? { objectLock: config.objectLock } : {}),
      copyScope: copyScopeOf(config),
    });
  }
}

/**
 * Storage versions with the same endpoint, region, role and ExternalId reach the store as
 * the same principal, so one's client may read the other's objects for a server-side copy.
 */
export function copyScopeOf(config: S3Config): string {
  return JSON.stringify([
    config.endpoint ?? '',
    config.region,
    config.roleArn ?? '',
    config.externalId ?? '',
  ]);
}
