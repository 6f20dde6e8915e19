import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TenantSecrets } from '../../../src/security/tenant-secrets.js';

describe('TenantSecrets', () => {
  const secrets = new TenantSecrets(randomBytes(32));
  const value = { clientSecret: 'very-secret-value-0123456789' };

  it('round-trips, and the sealed bytes hold no trace of the secret', async () => {
    const sealed = await secrets.seal('acme', 3, value);
    expect(sealed.includes(Buffer.from('very-secret-value'))).toBe(false);
    expect(await secrets.open('acme', 3, sealed)).toEqual(value);
  });

  it('does not open for another tenant, another version, or under another service key', async () => {
    const sealed = await secrets.seal('acme', 3, value);
    await expect(secrets.open('globex', 3, sealed)).rejects.toThrow();
    await expect(secrets.open('acme', 4, sealed)).rejects.toThrow();
    await expect(new TenantSecrets(randomBytes(32)).open('acme', 3, sealed)).rejects.toThrow();
  });

  it('refuses a tampered ciphertext', async () => {
    const sealed = await secrets.seal('acme', 1, value);
    sealed[sealed.length - 20]! ^= 1;
    await expect(secrets.open('acme', 1, sealed)).rejects.toThrow();
  });
});
