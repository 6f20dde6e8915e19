export { mapS3Error } from './s3-errors.js';
export { type S3Config, S3StorageFactory, s3ClientConfig } from './s3-storage-factory.js';
export {
  type S3ChecksumMode,
  S3StorageTarget,
  type S3StorageTargetOptions,
} from './s3-storage-target.js';
export { normalisePrefix } from '../object-key.js';
