export { azureCodeOf, mapAzureError } from './azure-errors.js';
export {
  type AzureBlobConfig,
  type AzureBlobPipelineOptions,
  AzureBlobStorageFactory,
  type AzureBlobStorageFactoryOptions,
} from './azure-blob-storage-factory.js';
export {
  AzureBlobStorageTarget,
  type AzureBlobStorageTargetOptions,
  azureMetadata,
  BLOCK_SIZE,
  MAX_BLOCKS_IN_FLIGHT,
} from './azure-blob-storage-target.js';
export { normalisePrefix } from '../object-key.js';
