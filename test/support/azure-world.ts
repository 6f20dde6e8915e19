import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type AzureStandIn, startAzureStandIn } from './azure-standin.js';
import { type AzuriteHandle, startAzurite } from './azurite.js';
import { ALL_SCOPES, api, createKey } from './client.js';
import { type Harness, startHarness } from './harness.js';

/**
 * Azure without Azure: Azurite over HTTPS in OAuth mode for the tenant's container, and
 * the Entra ID + Key Vault stand-in (one HTTPS server with real state) for the tenant's
 * service principal and key. Custody reaches Entra through `AZURE_AUTHORITY_HOST` and the
 * stand-in switches, as an operator would point it at a sovereign cloud.
 */
export interface AzureWorld {
  azure: AzureStandIn;
  azurite: AzuriteHandle;
  /** Harness env: the stand-in's variables, and loopback allowed for Azurite and the vault. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startAzureWorld(): Promise<AzureWorld> {
  const [azure, azurite] = await Promise.all([startAzureStandIn(), startAzurite({ oauth: true })]);
  return {
    azure,
    azurite,
    env: { ...azure.env(), CUSTODY_ALLOW_PRIVATE_ENDPOINTS: '127.0.0.1' },
    async stop() {
      await Promise.all([azure.stop(), azurite.stop()]);
    },
  };
}

/** The Azure handshake's steps, in order, as the issue names them. */
export const AZURE_HANDSHAKE_STEPS = [
  'token',
  'get-key',
  'wrap-key',
  'put-probe',
  'get-probe',
  'unwrap-key',
  'delete-probe',
] as const;

/** A PEM holding a certificate and its private key, registered for the stand-in's app. */
export const APP_CERTIFICATE_PEM = readFileSync(
  path.resolve(import.meta.dirname, '../fixtures/azure/app.pem'),
  'utf8',
);

export interface AzureTenant {
  tenantId: string;
  key: string;
  clientId: string;
  clientSecret: string;
  keyName: string;
  keyId: string;
  container: string;
  prefix: string;
}

/** The `PUT …/storage` body for `tenant` (tests change fields to break it). */
export function azureBody(world: AzureWorld, t: AzureTenant, o: { certificate?: boolean } = {}) {
  return {
    provider: 'azure-blob',
    accountUrl: world.azurite.accountUrl,
    container: t.container,
    prefix: t.prefix,
    keyId: t.keyId,
    credential: {
      entraTenantId: world.azure.vaultTenantId,
      clientId: t.clientId,
      ...(o.certificate ? { clientCertificatePem: APP_CERTIFICATE_PEM } : { clientSecret: t.clientSecret }),
    },
  };
}

/**
 * A tenant set up as its Azure admin would: a container, an RSA key in the vault, an
 * app registration with a secret (and the fixture certificate) granted the crypto role
 * on that key only. With `register: false` nothing is registered with Custody yet.
 */
export async function setupAzureTenant(
  h: Harness,
  world: AzureWorld,
  tenantId: string,
  o: { scopes?: string[]; retention?: string; register?: boolean; certificate?: boolean } = {},
): Promise<AzureTenant> {
  const t = await api(h, 'POST', '/v1/tenants', {
    json: { id: tenantId, name: tenantId, retention: o.retention ?? 'P30D' },
  });
  if (t.status !== 201) throw new Error(`create tenant: ${t.status} ${t.bytes}`);
  const clientId = randomUUID();
  const clientSecret = `secret-${randomBytes(18).toString('base64url')}`;
  world.azure.addApp({
    entraTenantId: world.azure.vaultTenantId,
    clientId,
    clientSecret,
    certificatePem: APP_CERTIFICATE_PEM,
  });
  const keyName = `rec-${tenantId}`.replace(/[^A-Za-z0-9-]/g, '-');
  world.azure.createKey(keyName);
  world.azure.grant(keyName, clientId, ['get', 'wrapKey', 'unwrapKey']);
  const container = `c-${tenantId}`.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  await world.azurite.createContainer(container);
  const tenant: AzureTenant = {
    tenantId,
    key: '',
    clientId,
    clientSecret,
    keyName,
    // Versionless, as tenants usually give it: the handshake pins the version.
    keyId: `${world.azure.vaultUrl}/keys/${keyName}`,
    container,
    prefix: `tenants/${tenantId}`,
  };
  if (o.register !== false) {
    const s = await api(h, 'PUT', `/v1/tenants/${tenantId}/storage`, {
      json: azureBody(world, tenant, { certificate: o.certificate }),
    });
    if (s.status !== 200) throw new Error(`register storage: ${s.status} ${s.bytes}`);
  }
  tenant.key = await createKey(h, tenantId, o.scopes ?? ALL_SCOPES);
  return tenant;
}

/** A harness on an Azure world; `close` stops both. */
export async function startAzureHarness(
  o: {
    env?: Record<string, string>;
    workers?: boolean;
    log?: import('../../src/observability/logger.js').Logger;
  } = {},
) {
  const world = await startAzureWorld();
  const h = await startHarness({
    env: { ...world.env, ...o.env },
    workers: o.workers ?? true,
    ...(o.log ? { log: o.log } : {}),
  });
  return {
    world,
    h,
    async close() {
      await h.close();
      await world.stop();
    },
  };
}
