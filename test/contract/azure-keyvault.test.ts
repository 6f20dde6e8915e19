import { randomBytes, randomUUID } from 'node:crypto';
import https from 'node:https';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { AlgorithmSuiteIdentifier, buildClient, CommitmentPolicy } from '@aws-crypto/client-node';
import { ClientSecretCredential } from '@azure/identity';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEncryptStream } from '../../src/crypto/index.js';
import { KeyProviderError } from '../../src/errors.js';
import {
  AzureKeyVaultKeyProviderFactory,
  AzureKeyVaultKeyring,
  type AzureKeyVaultClientOptions,
} from '../../src/keys/azure-keyvault/index.js';
import type { KeyProvider } from '../../src/keys/key-provider.js';
import { type AzureStandIn, startAzureStandIn } from '../support/azure-standin.js';
import type { CreateKeyOptions } from '../support/keyvault-state.js';
import { keyProviderContract } from './key-provider.suite.js';

const esdk = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
const suiteId = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;
// The SDK's retry policy as configured in production, with short delays so tests do not wait.
const clientOptions: AzureKeyVaultClientOptions = {
  disableChallengeResourceVerification: true,
  retryOptions: { maxRetries: 3, retryDelayInMs: 10, maxRetryDelayInMs: 2_000 },
};
const factory = new AzureKeyVaultKeyProviderFactory({ clientOptions });

let standIn: AzureStandIn | undefined;
async function azure(): Promise<AzureStandIn> {
  standIn ??= await startAzureStandIn();
  return standIn;
}
afterAll(async () => standIn?.stop());

/** An app registration with a client secret, and a credential for it. */
function app(az: AzureStandIn, secret = 'app-secret') {
  const clientId = randomUUID();
  az.addApp({ entraTenantId: az.vaultTenantId, clientId, clientSecret: secret });
  const credential = (s = secret) =>
    new ClientSecretCredential(az.vaultTenantId, clientId, s, az.credentialOptions());
  return { clientId, credential };
}

const keyName = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;
const nameOf = (kid: string) => kid.split('/')[4]!;
const versionless = (kid: string) => kid.split('/').slice(0, 5).join('/');

function contractFor(kind: string, keyOptions: CreateKeyOptions): void {
  keyProviderContract(`azure-keyvault (${kind}, HTTPS stand-in)`, async () => {
    const az = await azure();
    const [mine, theirs] = [app(az), app(az)];
    const kid = az.createKey(keyName(kind), keyOptions);
    const otherKid = az.createKey(keyName(kind), keyOptions);
    az.grant(nameOf(kid), mine.clientId, ['get', 'wrapKey', 'unwrapKey']);
    az.grant(nameOf(otherKid), theirs.clientId, ['get', 'wrapKey', 'unwrapKey']);
    const config = { keyId: kid, credential: mine.credential() };
    return {
      tenantId: 'acme',
      otherTenantId: 'globex',
      provider: await factory.create('acme', config),
      otherTenantProvider: await factory.create('globex', {
        keyId: otherKid,
        credential: theirs.credential(),
      }),
      reopen: () => factory.create('acme', config),
      expectedDataKey: { providerId: 'azure-keyvault', providerInfo: kid },
      cleanup: async () => {},
    };
  });
}

contractFor('RSA', { kty: 'RSA' });
contractFor('oct-HSM', { kty: 'oct-HSM' });

describe('azure-keyvault key provider against the Key Vault stand-in', () => {
  let az: AzureStandIn;
  let me: ReturnType<typeof app>;
  let kid: string;
  let provider: KeyProvider;
  const context = () => ({
    'custody:tenant': 'acme',
    'custody:recording': `rec_${randomBytes(8).toString('hex')}`,
  });
  const encrypt = async (p: KeyProvider, plaintext: Buffer | string = 'x') =>
    (await esdk.encrypt(p.keyring(), plaintext, { suiteId, encryptionContext: context() })).result;
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error('expected a failure');
      },
      (e: unknown) => e as KeyProviderError,
    );

  async function encryptWithStream(p: KeyProvider, plaintext: Buffer): Promise<Buffer> {
    const enc = await createEncryptStream({ keyring: p.keyring(), context: context(), frameLength: 4096 });
    return buffer(Readable.from([plaintext]).pipe(enc));
  }

  beforeAll(async () => {
    az = await azure();
  });
  beforeEach(async () => {
    me = app(az);
    kid = az.createKey(keyName('rsa'));
    az.grant(nameOf(kid), me.clientId, ['get', 'wrapKey', 'unwrapKey']);
    provider = await factory.create('acme', { keyId: kid, credential: me.credential() });
    az.resetCounts();
    az.clearFaults();
  });

  it('has kind azure-keyvault and the versioned key id; rejects what is not a Key Vault key URL', async () => {
    expect(provider.kind).toBe('azure-keyvault');
    expect(provider.keyId).toBe(kid);
    for (const keyId of [
      'http://vault.example/keys/k',
      'https://vault.example/secrets/k',
      'arn:aws:kms:x',
      `${kid}?x=1`,
    ]) {
      await expect(factory.create('acme', { keyId, credential: me.credential() })).rejects.toMatchObject({
        kind: 'tenant',
        code: 'InvalidKeyVaultKeyId',
      });
    }
  });

  it('makes exactly one wrapKey (RSA-OAEP-256, in the vault) per message, one unwrapKey per decrypt', async () => {
    const messages = [
      await encryptWithStream(provider, randomBytes(50_000)),
      await encryptWithStream(provider, Buffer.alloc(0)),
      await encryptWithStream(provider, randomBytes(10)),
    ];
    expect(az.counts.wrapKey).toBe(3);
    expect(az.callsOf('wrapKey').every((c) => c.alg === 'RSA-OAEP-256' && c.status === 200)).toBe(true);
    expect(az.counts.getKey).toBe(1); // the key type, once
    for (const message of messages) await esdk.decrypt(provider.keyring(), message);
    expect(az.counts.unwrapKey).toBe(3);
    expect(az.counts.getKey).toBe(1);
  });

  it('wraps with A256KW under an oct-HSM key', async () => {
    const octKid = az.createKey(keyName('oct'), { kty: 'oct-HSM' });
    az.grant(nameOf(octKid), me.clientId, ['get', 'wrapKey', 'unwrapKey']);
    const p = await factory.create('acme', { keyId: octKid, credential: me.credential() });
    const message = await encrypt(p, 'hello');
    const { plaintext, messageHeader } = await esdk.decrypt(p.keyring(), message);
    expect(Buffer.from(plaintext).toString()).toBe('hello');
    expect(messageHeader.encryptedDataKeys[0]?.encryptedDataKey).toHaveLength(40);
    expect(az.callsOf('wrapKey')[0]?.alg).toBe('A256KW');
  });

  it('rotation: a versionless key id wraps with the current version; old messages still decrypt', async () => {
    const p = await factory.create('acme', { keyId: versionless(kid), credential: me.credential() });
    const old = await encrypt(p, 'old');
    expect(p.keyId).toBe(kid);
    const v2 = az.rotateKey(nameOf(kid));
    const fresh = await encrypt(p, 'new');
    expect(p.keyId).toBe(v2);
    const header = async (m: Uint8Array) => (await esdk.decrypt(p.keyring(), m)).messageHeader;
    expect((await header(old)).encryptedDataKeys[0]?.providerInfo).toBe(kid);
    expect((await header(fresh)).encryptedDataKeys[0]?.providerInfo).toBe(v2);
    // A provider pinned to the new version reads recordings of the old one.
    const pinned = await factory.create('acme', { keyId: v2, credential: me.credential() });
    expect(Buffer.from((await esdk.decrypt(pinned.keyring(), old)).plaintext).toString()).toBe('old');
    expect(az.callsOf('unwrapKey').map((c) => c.version)).toContain(kid.split('/')[5]);
  });

  it('check() pins a versionless key id to the current version', async () => {
    const p = await factory.create('acme', { keyId: versionless(kid), credential: me.credential() });
    expect(p.keyId).toBe(versionless(kid));
    await p.check?.();
    expect(p.keyId).toBe(kid);
    az.rotateKey(nameOf(kid));
    const { messageHeader } = await esdk.decrypt(p.keyring(), await encrypt(p));
    expect(messageHeader.encryptedDataKeys[0]?.providerInfo).toBe(kid);
  });

  it('check() names what to fix: disabled, expired, missing operations, not found, no role', async () => {
    const check = (keyId: string) =>
      factory.create('acme', { keyId, credential: me.credential() }).then((p) => failure(p.check!()));
    az.disableKey(nameOf(kid));
    expect(await check(kid)).toMatchObject({ kind: 'tenant', code: 'KeyDisabled' });
    az.enableKey(nameOf(kid));
    az.expireKey(nameOf(kid));
    const expired = await check(kid);
    expect(expired).toMatchObject({ kind: 'tenant', code: 'KeyExpired' });
    expect(expired.message).toContain('expiration date');

    const signOnly = az.createKey(keyName('sign'), { ops: ['sign', 'verify', 'unwrapKey'] });
    az.grant(nameOf(signOnly), me.clientId, ['get']);
    const ops = await check(signOnly);
    expect(ops).toMatchObject({ kind: 'tenant', code: 'KeyOperationNotPermitted' });
    expect(ops.message).toContain('wrapKey');

    az.grant('missing', me.clientId, ['get']);
    expect(await check(`${az.vaultUrl}/keys/missing`)).toMatchObject({ kind: 'tenant', code: 'KeyNotFound' });
    const unassigned = az.createKey(keyName('norole'));
    const denied = await check(unassigned);
    expect(denied).toMatchObject({ kind: 'tenant', code: 'ForbiddenByRbac' });
    expect(denied.message).toContain(unassigned);
    expect(denied.message).not.toContain('Caller is not authorized');
  });

  it('a disabled key fails encrypt and decrypt with tenant/KeyDisabled, naming step and key only', async () => {
    const message = await encrypt(provider);
    az.disableKey(nameOf(kid));
    const enc = await failure(encrypt(provider));
    expect(enc).toBeInstanceOf(KeyProviderError);
    expect(enc).toMatchObject({ kind: 'tenant', code: 'KeyDisabled' });
    expect(enc.message).toContain('wrapKey');
    expect(enc.message).toContain(kid);
    expect(enc.message).not.toContain('Operation wrapKey is not allowed');
    expect((enc.cause as unknown as Record<string, unknown>).request).toBeUndefined();
    const dec = await failure(esdk.decrypt(provider.keyring(), message));
    expect(dec).toMatchObject({ kind: 'tenant', code: 'KeyDisabled' });
    expect(dec.message).toContain('unwrapKey');
    expect(az.counts.getKey).toBe(1); // for the wrap's key type; unwrapping needs no getKey
  });

  it('a removed role assignment is tenant/ForbiddenByRbac; a deleted key tenant/KeyNotFound', async () => {
    const message = await encrypt(provider);
    az.revoke(nameOf(kid), me.clientId, ['wrapKey', 'unwrapKey']);
    expect(await failure(encrypt(provider))).toMatchObject({ kind: 'tenant', code: 'ForbiddenByRbac' });
    expect(await failure(esdk.decrypt(provider.keyring(), message))).toMatchObject({
      kind: 'tenant',
      code: 'ForbiddenByRbac',
    });
    az.grant(nameOf(kid), me.clientId, ['wrapKey', 'unwrapKey']);
    az.deleteKey(nameOf(kid));
    expect(await failure(encrypt(provider))).toMatchObject({ kind: 'tenant', code: 'KeyNotFound' });
    const fresh = await factory.create('acme', { keyId: kid, credential: me.credential() });
    expect(await failure(esdk.decrypt(fresh.keyring(), message))).toMatchObject({ code: 'KeyNotFound' });
  });

  it('an expired key refuses new wraps (tenant/KeyExpired) but old recordings still decrypt', async () => {
    const message = await encrypt(provider, 'kept');
    az.expireKey(nameOf(kid));
    expect(await failure(encrypt(provider))).toMatchObject({ kind: 'tenant', code: 'KeyExpired' });
    const fresh = await factory.create('acme', { keyId: kid, credential: me.credential() });
    expect(Buffer.from((await esdk.decrypt(fresh.keyring(), message)).plaintext).toString()).toBe('kept');
  });

  it('a wrong client secret is tenant with the AADSTS code, and no secret in the message', async () => {
    const p = await factory.create('acme', { keyId: kid, credential: me.credential('not-the-secret') });
    const err = await failure(encrypt(p));
    expect(err).toMatchObject({ kind: 'tenant', code: 'AADSTS7000215' });
    expect(err.message).toContain('invalid_client');
    expect(err.message).not.toContain('not-the-secret');
    expect(az.counts.wrapKey).toBe(0);
  });

  it('429 is retried by the SDK after Retry-After, then succeeds; lasting 5xx is transient', async () => {
    await encrypt(provider); // key type cached, challenge done
    az.resetCounts();
    az.failNext('wrapKey', 429, 'Throttled', { retryAfterSeconds: 1 });
    const started = Date.now();
    await encrypt(provider);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(az.callsOf('wrapKey').map((c) => c.status)).toEqual([429, 200]);

    az.failNext('wrapKey', 503, 'ServiceUnavailable', { count: 4 });
    const err = await failure(encrypt(provider));
    expect(err).toMatchObject({ kind: 'transient', code: 'ServiceUnavailable' });
    // The SDK's error holds the request (bearer token, plaintext data key): it is not kept.
    expect(err.cause).toMatchObject({ name: 'RestError', statusCode: 503 });
    expect((err.cause as unknown as Record<string, unknown>).request).toBeUndefined();
    expect(az.counts.wrapKey).toBe(2 + 4); // one try and three retries
    az.resetCounts();
  });

  it('an unreachable vault is transient', async () => {
    const p = await factory.create('acme', {
      keyId: `https://127.0.0.1:1/keys/${nameOf(kid)}/${kid.split('/')[5]}`,
      credential: me.credential(),
    });
    expect(await failure(encrypt(p))).toMatchObject({ kind: 'transient' });
  });

  it('a Retry-After longer than the bound is cut to it, and the wait stays bounded', async () => {
    const bounded = new AzureKeyVaultKeyProviderFactory({
      clientOptions: {
        ...clientOptions,
        retryOptions: { maxRetries: 2, retryDelayInMs: 10, maxRetryDelayInMs: 100 },
      },
    });
    const p = await bounded.create('acme', { keyId: kid, credential: me.credential() });
    await encrypt(p);
    az.failNext('wrapKey', 429, 'Throttled', { retryAfterSeconds: 3600, count: 5 });
    const started = Date.now();
    const err = await failure(encrypt(p));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err).toMatchObject({ kind: 'transient', code: 'Throttled' });
    az.resetCounts();
  });

  it('sends its requests through a custom agent given as clientOptions.agent', async () => {
    let connections = 0;
    class CountingAgent extends https.Agent {
      override createConnection(...args: Parameters<https.Agent['createConnection']>) {
        connections++;
        return super.createConnection(...args);
      }
    }
    const agent = new CountingAgent({ keepAlive: true });
    const withAgent = new AzureKeyVaultKeyProviderFactory({ clientOptions: { ...clientOptions, agent } });
    const p = await withAgent.create('acme', { keyId: kid, credential: me.credential() });
    await esdk.decrypt(p.keyring(), await encrypt(p));
    expect(connections).toBeGreaterThan(0);
    expect(az.counts).toMatchObject({ wrapKey: 1, unwrapKey: 1 });
    agent.destroy();
  });

  it('interop: the official ESDK decrypts with an independently built keyring, and the other way round', async () => {
    const plaintext = randomBytes(10_000);
    const message = await encryptWithStream(provider, plaintext);
    const independent = new AzureKeyVaultKeyring({ keyId: kid, credential: me.credential(), clientOptions });
    const { plaintext: back } = await esdk.decrypt(independent, message);
    expect(Buffer.from(back).equals(plaintext)).toBe(true);
    const { result } = await esdk.encrypt(independent, plaintext, { suiteId, encryptionContext: context() });
    expect(Buffer.from((await esdk.decrypt(provider.keyring(), result)).plaintext).equals(plaintext)).toBe(
      true,
    );
  });

  it('never sends a token to a vault other than the configured one, whatever the header says', async () => {
    const message = await encrypt(provider);
    az.resetCounts();
    // Same key name and port, another host: the header's key id does not match this keyring's vault.
    const elsewhere = kid.replace('127.0.0.1', 'localhost');
    const p = await factory.create('acme', { keyId: elsewhere, credential: me.credential() });
    const err = await failure(esdk.decrypt(p.keyring(), message));
    expect(err).toMatchObject({ kind: 'tenant', code: 'NoMatchingKeyVaultKey' });
    expect(az.calls).toHaveLength(0);
  });
});
