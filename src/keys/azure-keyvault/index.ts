export {
  type AzureKeyVaultKeyConfig,
  AzureKeyVaultKeyProvider,
  AzureKeyVaultKeyProviderFactory,
  type AzureKeyVaultKeyProviderFactoryOptions,
} from './azure-keyvault-key-provider.js';
export {
  type AzureKeyVaultClientOptions,
  boundedClientOptions,
  DEFAULT_RETRY,
  retryAfterCapPolicy,
} from './client-options.js';
export { translateKeyVaultError, type KeyVaultStep } from './errors.js';
export { isVersionOf, type KeyVaultKeyId, parseKeyVaultKeyId, requireKeyVaultKeyId } from './key-id.js';
export {
  AZURE_KEYVAULT_PROVIDER_ID,
  AzureKeyVaultKeyring,
  type AzureKeyVaultKeyringInput,
  WRAP_ALGORITHMS,
} from './keyring.js';
