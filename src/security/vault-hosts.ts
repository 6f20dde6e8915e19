import { isHostAllowed, parseAllowList, refuse } from './endpoint-guard.js';

/**
 * DNS suffixes of Key Vault and Managed HSM in the clouds Custody knows: public, US
 * Government, China. A `keyId` elsewhere is refused unless the operator allows the host
 * (`CUSTODY_ALLOW_PRIVATE_ENDPOINTS`, e.g. a stand-in): the credential's vault token
 * must never be sent to a host that only claims to be a vault.
 */
export const KEY_VAULT_HOST_SUFFIXES: readonly string[] = [
  '.vault.azure.net',
  '.managedhsm.azure.net',
  '.vault.usgovcloudapi.net',
  '.managedhsm.usgovcloudapi.net',
  '.vault.azure.cn',
  '.managedhsm.azure.cn',
];

export function isKeyVaultHost(host: string): boolean {
  const h = host.toLowerCase().replace(/\.+$/, '');
  return KEY_VAULT_HOST_SUFFIXES.some((suffix) => h.endsWith(suffix) && h.length > suffix.length);
}

/** Throws 400 ENDPOINT_NOT_ALLOWED unless `url`'s host is a vault host or explicitly allowed. */
export function assertKeyVaultHost(url: string, field: string, allow: readonly string[]): void {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    throw refuse(field, 'is not a valid absolute URL.');
  }
  if (isKeyVaultHost(host) || isHostAllowed(host, parseAllowList(allow))) return;
  throw refuse(
    field,
    `must be a Key Vault or Managed HSM key URL (hosts ending in ${KEY_VAULT_HOST_SUFFIXES.join(', ')}).`,
  );
}
