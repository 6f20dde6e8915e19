import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { ClientSecretCredential } from '@azure/identity';
import { type CliResult, expectOneLineError, runCustody } from '../support/cli-run.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEncryptStream } from '../../src/crypto/index.js';
import { AzureKeyVaultKeyProvider } from '../../src/keys/azure-keyvault/index.js';
import { type AzureStandIn, startAzureStandIn } from '../support/azure-standin.js';

const APP_PEM = path.resolve('test/fixtures/azure/app.pem');

type Result = CliResult;

describe('custody decrypt|inspect --azure-key-id against the Azure stand-in', () => {
  let az: AzureStandIn;
  let dir: string;
  let kid: string;
  let keyName: string;
  let object: string;
  const tenant = { clientId: randomUUID(), clientSecret: 'tenant-own-secret' };
  const certApp = { clientId: randomUUID() };
  const audio = randomBytes(300_000);
  const context = { 'custody:tenant': 'acme', 'custody:recording': 'rec_cli_azure' };

  /** `custody …` as a tenant would run it: their own app registration in the environment. */
  async function custody(args: string[], identity: Record<string, string> = {}): Promise<Result> {
    const env = {
      PATH: process.env.PATH!,
      HOME: dir, // no ~/.azure: only the environment's identity
      NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS!,
      ...az.env(),
      AZURE_TENANT_ID: az.vaultTenantId,
      AZURE_CLIENT_ID: tenant.clientId,
      AZURE_CLIENT_SECRET: tenant.clientSecret,
      ...identity,
    };
    return runCustody(args, env);
  }

  beforeAll(async () => {
    az = await startAzureStandIn();
    dir = await mkdtemp(path.join(tmpdir(), 'custody-cli-azure-'));
    // The service's identity wraps; the tenant's own app (and a certificate app) unwrap.
    const service = { clientId: randomUUID(), clientSecret: 'service-secret' };
    for (const a of [service, tenant]) az.addApp({ entraTenantId: az.vaultTenantId, ...a });
    az.addApp({
      entraTenantId: az.vaultTenantId,
      clientId: certApp.clientId,
      certificatePem: await readFile(APP_PEM, 'utf8'),
    });
    kid = az.createKey(`recordings-${randomUUID().slice(0, 8)}`);
    keyName = kid.split('/')[4]!;
    az.grant(keyName, service.clientId, ['get', 'wrapKey']);
    az.grant(keyName, tenant.clientId, ['unwrapKey']);
    az.grant(keyName, certApp.clientId, ['unwrapKey']);
    const credential = new ClientSecretCredential(
      az.vaultTenantId,
      service.clientId,
      service.clientSecret,
      az.credentialOptions(),
    );
    const provider = new AzureKeyVaultKeyProvider(
      { keyId: kid, credential },
      { disableChallengeResourceVerification: true },
    );
    const enc = await createEncryptStream({ keyring: provider.keyring(), context, frameLength: 64 * 1024 });
    object = path.join(dir, 'object.esdk');
    await writeFile(object, await buffer(Readable.from([audio]).pipe(enc)));
  });
  afterAll(async () => {
    await az?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    az.enableKey(keyName);
    az.resetCounts();
  });

  it('decrypts the whole object and a range with one unwrapKey each, versionless key URL', async () => {
    const out = path.join(dir, 'plain.wav');
    const keyUrl = kid.split('/').slice(0, 5).join('/');
    const [whole, part] = await Promise.all([
      custody(['decrypt', object, '-o', out, '--azure-key-id', keyUrl]),
      custody(['decrypt', object, '--range', '100000-200099', '--azure-key-id', kid]),
    ]);
    expect(whole).toMatchObject({ code: 0, stderr: '' });
    expect((await readFile(out)).equals(audio)).toBe(true);
    expect(part.code).toBe(0);
    expect(part.stdout.equals(audio.subarray(100_000, 200_100))).toBe(true);
    const unwraps = az.callsOf('unwrapKey');
    expect(unwraps).toHaveLength(2);
    for (const call of unwraps) {
      expect(call).toMatchObject({ clientId: tenant.clientId, version: kid.split('/')[5], status: 200 });
    }
    expect(az.counts.getKey).toBe(0); // unwrap-only role assignment is enough
    expect(az.tokenRequests(tenant.clientId, 'https://vault.azure.net/.default')).toBe(2);
  });

  it('inspect --azure-key-id authenticates every frame and prints the header', async () => {
    const r = await custody(['inspect', object, '--azure-key-id', kid]);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout.toString());
    expect(info).toMatchObject({ authenticated: true, plaintextLength: audio.length, context });
    expect(az.counts.unwrapKey).toBe(1);
  });

  it('works with a certificate credential (AZURE_CLIENT_CERTIFICATE_PATH)', async () => {
    const r = await custody(['decrypt', object, '--azure-key-id', kid], {
      AZURE_CLIENT_ID: certApp.clientId,
      AZURE_CLIENT_SECRET: '',
      AZURE_CLIENT_CERTIFICATE_PATH: APP_PEM,
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.equals(audio)).toBe(true);
    expect(az.callsOf('token')[0]).toMatchObject({ clientId: certApp.clientId, method: 'certificate' });
  });

  it('a disabled key: non-zero exit, one line naming KeyDisabled and the key, no output file', async () => {
    az.disableKey(keyName);
    const out = path.join(dir, 'disabled.wav');
    const [dec, insp] = await Promise.all([
      custody(['decrypt', object, '-o', out, '--azure-key-id', kid]),
      custody(['inspect', object, '--azure-key-id', kid]),
    ]);
    expectOneLineError(dec, /^custody: .*KeyDisabled/);
    expect(dec.stderr).toContain(kid);
    expect(dec.stdout.length).toBe(0);
    expect(existsSync(out)).toBe(false);
    expectOneLineError(insp, /KeyDisabled/);
    expect(insp.stdout.length).toBe(0);
  });

  it('no role assignment, a wrong secret, or another key: one line naming the Azure code', async () => {
    const stranger = { clientId: randomUUID(), clientSecret: 's' };
    az.addApp({ entraTenantId: az.vaultTenantId, ...stranger });
    const other = az.createKey(`other-${randomUUID().slice(0, 8)}`);
    const [denied, badSecret, otherKey] = await Promise.all([
      custody(['decrypt', object, '--azure-key-id', kid], {
        AZURE_CLIENT_ID: stranger.clientId,
        AZURE_CLIENT_SECRET: stranger.clientSecret,
      }),
      custody(['decrypt', object, '--azure-key-id', kid], { AZURE_CLIENT_SECRET: 'leaked-if-shown' }),
      custody(['decrypt', object, '--azure-key-id', other]),
    ]);
    expectOneLineError(denied, /ForbiddenByRbac/);
    expect(denied.stderr).not.toContain('Caller is not authorized');
    expectOneLineError(badSecret, /AADSTS7000215/);
    expect(badSecret.stderr).not.toContain('leaked-if-shown');
    expectOneLineError(otherKey, /not by a version of Key Vault key/);
    expect(otherKey.stdout.length).toBe(0);
  });

  it('exactly one key source, and a key URL that is one', async () => {
    const [both, bad] = await Promise.all([
      custody(['decrypt', object, '--kms', '--azure-key-id', kid]),
      custody(['inspect', object, '--azure-key-id', 'https://vault.example/secrets/k']),
    ]);
    expectOneLineError(both, /exactly one key source/);
    expectOneLineError(bad, /is not an Azure Key Vault key URL/);
    expect(az.calls).toHaveLength(0);
  });
});
