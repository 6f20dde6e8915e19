export {
  deriveLocalTenantKey,
  LOCAL_KEY_NAMESPACE,
  type LocalKeyConfig,
  LocalKeyProvider,
  LocalKeyProviderFactory,
  localKeyName,
} from './local-key-provider.js';
export { loadOrCreateMasterKey, MASTER_KEY_BYTES, type WarnLogger } from './master-key.js';
