export { type LocalStorageConfig, LocalStorageFactory } from './local-storage-factory.js';
export { LocalStorageTarget } from './local-storage-target.js';
export { DEFAULT_LOCAL_PATH } from './paths.js';
