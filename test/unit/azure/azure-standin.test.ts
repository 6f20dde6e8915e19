import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  AuthenticationRequiredError,
  ClientCertificateCredential,
  ClientSecretCredential,
  CredentialUnavailableError,
} from '@azure/identity';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AzureStandIn, startAzureStandIn } from '../../support/azure-standin.js';

const APP_PEM = readFileSync(path.resolve('test/fixtures/azure/app.pem'), 'utf8');
const OTHER_PEM = readFileSync(path.resolve('test/fixtures/azure/other-app.pem'), 'utf8');
const VAULT = 'https://vault.azure.net';
// Fast SDK retries: the behaviour is the same, the tests just do not wait.
const retryOptions = { maxRetries: 3, retryDelayInMs: 10, maxRetryDelayInMs: 50 };

/**
 * What @azure/identity 4.14 surfaces for an Entra error reply: MSAL's `ServerError` (OAuth
 * `errorCode`, AADSTS `errorNo`, HTTP `status`) as the `cause` of an
 * `AuthenticationRequiredError` (EnvironmentCredential rewraps it as an AuthenticationError).
 */
function entraError(err: unknown): { errorCode: string; errorNo: string; status: number } {
  expect(err).toBeInstanceOf(AuthenticationRequiredError);
  const cause = (err as Error).cause as { name: string; errorCode: string; errorNo: string; status: number };
  expect(cause.name).toBe('ServerError');
  return { errorCode: cause.errorCode, errorNo: String(cause.errorNo), status: cause.status };
}

describe('Azure stand-in (Entra ID + Key Vault) with the real SDKs', () => {
  let az: AzureStandIn;
  let tenant: string;
  const secretApp = { clientId: randomUUID(), clientSecret: 'correct-secret' };
  const certApp = { clientId: randomUUID() };

  const secretCredential = (secret = secretApp.clientSecret) =>
    new ClientSecretCredential(tenant, secretApp.clientId, secret, {
      ...az.credentialOptions(),
      retryOptions,
    });
  const kvOptions = () => ({ disableChallengeResourceVerification: true, retryOptions });

  beforeAll(async () => {
    az = await startAzureStandIn();
    tenant = az.vaultTenantId;
    az.addApp({ entraTenantId: tenant, ...secretApp });
    az.addApp({ entraTenantId: tenant, clientId: certApp.clientId, certificatePem: APP_PEM });
  });
  afterAll(async () => az?.stop());
  beforeEach(() => az.resetCounts());

  describe('Entra ID', () => {
    it('issues a signed v1 access token for the scope’s resource to a client secret', async () => {
      const token = await secretCredential().getToken(`${VAULT}/.default`);
      const claims = decodeJwt(token.token);
      expect(claims).toMatchObject({
        aud: VAULT,
        iss: `https://sts.windows.net/${tenant}/`,
        tid: tenant,
        appid: secretApp.clientId,
        azp: secretApp.clientId,
        appidacr: '1',
      });
      expect(claims.oid).toEqual(expect.any(String));
      expect((claims.exp ?? 0) - (claims.nbf ?? 0)).toBe(3600);
      expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now() + 3500_000);
      expect(az.tokenRequests(secretApp.clientId, `${VAULT}/.default`)).toBe(1);
    });

    it('issues storage tokens Azurite can take (aud https://storage.azure.com)', async () => {
      const token = await secretCredential().getToken('https://storage.azure.com/.default');
      expect(decodeJwt(token.token).aud).toBe('https://storage.azure.com');
    });

    it('verifies the certificate’s client assertion (ClientCertificateCredential)', async () => {
      const cred = new ClientCertificateCredential(
        tenant,
        certApp.clientId,
        { certificate: APP_PEM },
        az.credentialOptions(),
      );
      const token = await cred.getToken(`${VAULT}/.default`);
      expect(decodeJwt(token.token)).toMatchObject({ appid: certApp.clientId, appidacr: '2' });
      expect(az.callsOf('token')[0]).toMatchObject({ method: 'certificate', status: 200 });
    });

    it('refuses an assertion signed by an unregistered certificate (AADSTS700027)', async () => {
      const cred = new ClientCertificateCredential(
        tenant,
        certApp.clientId,
        { certificate: OTHER_PEM },
        {
          ...az.credentialOptions(),
          retryOptions,
        },
      );
      const err = await cred.getToken(`${VAULT}/.default`).catch((e: unknown) => e);
      expect(entraError(err)).toEqual({ errorCode: 'invalid_client', errorNo: '700027', status: 401 });
      expect((err as Error).message).toContain('The key was not found');
    });

    it('a wrong secret is 401 invalid_client AADSTS7000215', async () => {
      const err = await secretCredential('wrong')
        .getToken(`${VAULT}/.default`)
        .catch((e: unknown) => e);
      expect(entraError(err)).toEqual({ errorCode: 'invalid_client', errorNo: '7000215', status: 401 });
      expect((err as Error).message).toContain('AADSTS7000215: Invalid client secret provided');
      expect(az.callsOf('token').at(-1)).toMatchObject({ status: 401, error: 'invalid_client' });
    });

    it('an unknown client is 400 AADSTS700016; an unknown tenant AADSTS90002', async () => {
      const unknownClient = new ClientSecretCredential(tenant, randomUUID(), 'x', {
        ...az.credentialOptions(),
        retryOptions,
      });
      const err = await unknownClient.getToken(`${VAULT}/.default`).catch((e: unknown) => e);
      expect(entraError(err)).toEqual({ errorCode: 'unauthorized_client', errorNo: '700016', status: 400 });

      const unknownTenant = new ClientSecretCredential(randomUUID(), secretApp.clientId, 'x', {
        ...az.credentialOptions(),
        retryOptions,
      });
      const tErr = await unknownTenant.getToken(`${VAULT}/.default`).catch((e: unknown) => e);
      // MSAL fails on the tenant's OpenID configuration (400 invalid_tenant, AADSTS90002)
      // before any token request, and reports only that it could not resolve the endpoints.
      expect(tErr).toBeInstanceOf(CredentialUnavailableError);
      expect((tErr as Error).message).toMatch(/^endpoints_resolution_error/);
      expect(az.tokenRequests()).toBe(1);
      const config = await fetch(`${az.authorityHost}/${randomUUID()}/v2.0/.well-known/openid-configuration`);
      expect(config.status).toBe(400);
      expect(await config.json()).toMatchObject({ error: 'invalid_tenant', error_codes: [90002] });
    });
  });

  describe('Key Vault', () => {
    it('getKey: the RSA key bundle through challenge auth, RBAC-checked', async () => {
      const kid = az.createKey(`rsa-${randomUUID().slice(0, 8)}`, { size: 3072 });
      const name = kid.split('/')[4]!;
      az.grant(name, secretApp.clientId, ['get']);
      const client = new KeyClient(az.vaultUrl, secretCredential(), kvOptions());
      const key = await client.getKey(name);
      expect(key.id).toBe(kid);
      expect(key.keyType).toBe('RSA');
      expect(key.key?.n?.length).toBe(384);
      expect(key.keyOperations).toEqual(expect.arrayContaining(['wrapKey', 'unwrapKey']));
      expect(key.properties.enabled).toBe(true);
      expect(az.challenges).toBe(1);
      expect(az.counts.getKey).toBe(1);
    });

    it('wraps remotely with RSA-OAEP-256 and unwraps with the private key', async () => {
      const kid = az.createKey(`rsa-${randomUUID().slice(0, 8)}`);
      const name = kid.split('/')[4]!;
      az.grant(name, secretApp.clientId, ['get', 'wrapKey', 'unwrapKey']);
      const crypto = new CryptographyClient(kid, secretCredential(), kvOptions());
      const dataKey = randomBytes(32);
      const wrapped = await crypto.wrapKey('RSA-OAEP-256', dataKey);
      expect(wrapped.result).toHaveLength(256);
      const back = await crypto.unwrapKey('RSA-OAEP-256', wrapped.result);
      expect(Buffer.from(back.result).equals(dataKey)).toBe(true);
      expect(az.counts).toMatchObject({ wrapKey: 1, unwrapKey: 1 });
      expect(az.callsOf('wrapKey')[0]).toMatchObject({ alg: 'RSA-OAEP-256', keyName: name, status: 200 });
    });

    it('RSA-OAEP wrapped locally by the SDK unwraps in the vault (real key pair)', async () => {
      const kid = az.createKey(`rsa-${randomUUID().slice(0, 8)}`);
      az.grant(kid.split('/')[4]!, secretApp.clientId, ['get', 'unwrapKey']);
      const crypto = new CryptographyClient(kid, secretCredential(), kvOptions());
      const dataKey = randomBytes(32);
      const wrapped = await crypto.wrapKey('RSA-OAEP', dataKey);
      expect(az.counts.wrapKey).toBe(0);
      const back = await crypto.unwrapKey('RSA-OAEP', wrapped.result);
      expect(Buffer.from(back.result).equals(dataKey)).toBe(true);
    });

    it('wraps and unwraps with A256KW under an oct-HSM key', async () => {
      const kid = az.createKey(`oct-${randomUUID().slice(0, 8)}`, { kty: 'oct-HSM' });
      az.grant(kid.split('/')[4]!, certApp.clientId, ['get', 'wrapKey', 'unwrapKey']);
      const cred = new ClientCertificateCredential(
        tenant,
        certApp.clientId,
        { certificate: APP_PEM },
        az.credentialOptions(),
      );
      const crypto = new CryptographyClient(kid, cred, kvOptions());
      const dataKey = randomBytes(32);
      const wrapped = await crypto.wrapKey('A256KW', dataKey);
      expect(wrapped.result).toHaveLength(40);
      const back = await crypto.unwrapKey('A256KW', wrapped.result);
      expect(Buffer.from(back.result).equals(dataKey)).toBe(true);
    });

    it('a disabled key is 403 Forbidden / KeyDisabled', async () => {
      const kid = az.createKey(`dis-${randomUUID().slice(0, 8)}`);
      const name = kid.split('/')[4]!;
      az.grant(name, secretApp.clientId, ['get', 'wrapKey', 'unwrapKey']);
      az.disableKey(name);
      const client = new KeyClient(az.vaultUrl, secretCredential(), kvOptions());
      const err = await client.getKey(name).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'RestError', statusCode: 403, code: 'Forbidden' });
      expect((err as Error).message).toBe('Operation get is not allowed on a disabled key.');
      expect((err as { details: unknown }).details).toMatchObject({
        error: { code: 'Forbidden', innerError: { code: 'KeyDisabled' } },
      });
    });

    it('an app without a role assignment is 403 ForbiddenByRbac', async () => {
      const kid = az.createKey(`rbac-${randomUUID().slice(0, 8)}`);
      const name = kid.split('/')[4]!;
      az.grant(name, secretApp.clientId, ['get']);
      const crypto = new CryptographyClient(kid, secretCredential(), kvOptions());
      const err = await crypto.wrapKey('RSA-OAEP-256', randomBytes(32)).catch((e: unknown) => e);
      expect(err).toMatchObject({ statusCode: 403, code: 'Forbidden' });
      expect((err as { details: unknown }).details).toMatchObject({
        error: { innerError: { code: 'ForbiddenByRbac' } },
      });
      expect((err as Error).message).toContain("Action: 'Microsoft.KeyVault/vaults/keys/wrap/action'");
    });

    it('a missing key is 404 KeyNotFound', async () => {
      az.grant('ghost', secretApp.clientId, ['get']);
      const client = new KeyClient(az.vaultUrl, secretCredential(), kvOptions());
      await expect(client.getKey('ghost')).rejects.toMatchObject({ statusCode: 404, code: 'KeyNotFound' });
    });

    it('an expired key refuses wrapKey but still unwraps', async () => {
      const kid = az.createKey(`exp-${randomUUID().slice(0, 8)}`, { kty: 'oct-HSM' });
      const name = kid.split('/')[4]!;
      az.grant(name, secretApp.clientId, ['wrapKey', 'unwrapKey']);
      // No `get`: the SDK falls back to remote-only operations, so no local expiry check hides the vault's.
      const crypto = new CryptographyClient(kid, secretCredential(), kvOptions());
      const wrapped = await crypto.wrapKey('A256KW', randomBytes(32));
      az.expireKey(name);
      const err = await crypto.wrapKey('A256KW', randomBytes(32)).catch((e: unknown) => e);
      expect(err).toMatchObject({ statusCode: 403, code: 'Forbidden' });
      expect((err as { details: unknown }).details).toMatchObject({
        error: { innerError: { code: 'KeyExpired' } },
      });
      await expect(crypto.unwrapKey('A256KW', wrapped.result)).resolves.toBeDefined();
    });

    it('429 with Retry-After is retried by the SDK, then succeeds', async () => {
      const kid = az.createKey(`thr-${randomUUID().slice(0, 8)}`, { kty: 'oct-HSM' });
      az.grant(kid.split('/')[4]!, secretApp.clientId, ['get', 'wrapKey']);
      const crypto = new CryptographyClient(kid, secretCredential(), kvOptions());
      az.failNext('wrapKey', 429, 'Throttled', { retryAfterSeconds: 1 });
      const started = Date.now();
      await crypto.wrapKey('A256KW', randomBytes(32));
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(az.counts.wrapKey).toBe(2);
      expect(az.callsOf('wrapKey').map((c) => c.status)).toEqual([429, 200]);
    });

    it('rejects tokens it did not issue, for another resource, from another tenant, or expired', async () => {
      const otherTenant = randomUUID();
      const stranger = { entraTenantId: otherTenant, clientId: randomUUID(), clientSecret: 's' };
      az.addApp(stranger);
      const kid = az.createKey(`tok-${randomUUID().slice(0, 8)}`);
      const url = `${kid}?api-version=7.6`;
      const get = (token: string) => fetch(url, { headers: { authorization: `Bearer ${token}` } });
      const cred = secretCredential();
      const storage = await cred.getToken('https://storage.azure.com/.default');
      const foreign = await new ClientSecretCredential(
        otherTenant,
        stranger.clientId,
        's',
        az.credentialOptions(),
      ).getToken(`${VAULT}/.default`);
      const forged = `${storage.token.split('.').slice(0, 2).join('.')}.AAAA`;
      for (const token of [storage.token, foreign.token, forged]) {
        const res = await get(token);
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe(
          `Bearer authorization="${az.authorityHost}/${tenant}", resource="${VAULT}"`,
        );
      }
      const vaultToken = await cred.getToken(`${VAULT}/.default`);
      az.grant(kid.split('/')[4]!, secretApp.clientId, ['get']);
      expect((await get(vaultToken.token)).status).toBe(200);
      az.expireTokens();
      const expired = await get(vaultToken.token);
      expect(expired.status).toBe(401);
      expect(JSON.stringify(await expired.json())).toContain('AKV10013');
      expect(az.counts.getKey).toBe(1);
    });
  });
});
