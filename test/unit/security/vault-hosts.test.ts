import { describe, expect, it } from 'vitest';
import { assertKeyVaultHost, isKeyVaultHost } from '../../../src/security/vault-hosts.js';

describe('Key Vault hosts', () => {
  it.each([
    'contoso.vault.azure.net',
    'CONTOSO.Vault.Azure.Net.',
    'hsm1.managedhsm.azure.net',
    'gov.vault.usgovcloudapi.net',
    'cn.vault.azure.cn',
  ])('accepts %s', (host) => expect(isKeyVaultHost(host)).toBe(true));

  it.each([
    'vault.azure.net',
    '.vault.azure.net',
    'vault.azure.net.evil.com',
    'evilvault.azure.net',
    'contoso.blob.core.windows.net',
    '127.0.0.1',
  ])('refuses %s', (host) => expect(isKeyVaultHost(host)).toBe(false));

  it('refuses a non-vault keyId with 400 ENDPOINT_NOT_ALLOWED naming the field', () => {
    expect(() => assertKeyVaultHost('https://keys.example.com/keys/k', 'keyId', [])).toThrow(
      expect.objectContaining({
        status: 400,
        code: 'ENDPOINT_NOT_ALLOWED',
        message: expect.stringContaining('keyId'),
      }),
    );
  });

  it('accepts a host the operator allowed, by name or address', () => {
    expect(() => assertKeyVaultHost('https://127.0.0.1:8443/keys/k', 'keyId', ['127.0.0.1'])).not.toThrow();
    expect(() => assertKeyVaultHost('https://kv.internal/keys/k', 'keyId', ['kv.internal'])).not.toThrow();
    expect(() => assertKeyVaultHost('https://127.0.0.2/keys/k', 'keyId', ['127.0.0.1'])).toThrow();
  });
});
