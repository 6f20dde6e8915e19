import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AZURE_HANDSHAKE_STEPS,
  type AzureTenant,
  type AzureWorld,
  azureBody,
  setupAzureTenant,
  startAzureHarness,
} from '../support/azure-world.js';
import { api } from '../support/client.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { expectHandshakeFailedAt } from '../support/handshake-checks.js';
import type { Harness } from '../support/harness.js';

const STEPS = AZURE_HANDSHAKE_STEPS;

interface Case {
  name: string;
  step: (typeof STEPS)[number];
  code: string;
  /** Words the message must hold: what to fix. */
  advice: RegExp;
  arrange(t: AzureTenant, body: ReturnType<typeof azureBody>): void;
}

/**
 * Each Azure handshake step failing in turn: the reply names the step and the Azure (or
 * Entra) code with what to fix, earlier steps passed, later ones did not run, nothing
 * was activated, no probe is left in the container, and the secret is never echoed.
 */
describe('the Azure Blob + Key Vault handshake, failing at each step', () => {
  let world: AzureWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let proxy: FaultProxy;
  let n = 0;

  const viaProxy = (body: ReturnType<typeof azureBody>) => {
    body.accountUrl = `${proxy.endpoint}/${world.azurite.accountName}`;
  };

  const cases: Case[] = [
    {
      name: 'a wrong client secret',
      step: 'token',
      code: 'AADSTS7000215',
      advice: /client secret is wrong/,
      arrange: (_t, body) => {
        (body.credential as { clientSecret?: string }).clientSecret = 'not-the-secret';
      },
    },
    {
      name: 'an app that is not registered in the tenant',
      step: 'token',
      code: 'AADSTS700016',
      advice: /not found in the tenant/,
      arrange: (_t, body) => {
        body.credential.clientId = randomUUID();
      },
    },
    {
      name: 'a disabled key',
      step: 'get-key',
      code: 'KeyDisabled',
      advice: /enable/i,
      arrange: (t) => world.azure.disableKey(t.keyName),
    },
    {
      name: 'an expired key',
      step: 'get-key',
      code: 'KeyExpired',
      advice: /expir/i,
      arrange: (t) => world.azure.expireKey(t.keyName),
    },
    {
      name: 'a key that was deleted (the role assignment still there)',
      step: 'get-key',
      code: 'KeyNotFound',
      advice: /keyId|does not exist/,
      arrange: (t) => world.azure.deleteKey(t.keyName),
    },
    {
      name: 'no role assignment on the key',
      step: 'get-key',
      code: 'ForbiddenByRbac',
      advice: /role/i,
      arrange: (t) => world.azure.revoke(t.keyName, t.clientId),
    },
    {
      name: 'wrapKey refused',
      step: 'wrap-key',
      code: 'ForbiddenByRbac',
      advice: /role/i,
      arrange: (t) => world.azure.revoke(t.keyName, t.clientId, ['wrapKey']),
    },
    {
      name: 'the container does not exist',
      step: 'put-probe',
      code: 'ContainerNotFound',
      advice: /container/i,
      arrange: (_t, body) => {
        body.container = 'no-such-container';
      },
    },
    {
      name: 'no data role on the container (upload refused)',
      step: 'put-probe',
      code: 'AuthorizationPermissionMismatch',
      advice: /Storage Blob Data Contributor/,
      arrange: (_t, body) => {
        viaProxy(body);
        proxy.failNext('PUT', 'AuthorizationPermissionMismatch');
      },
    },
    {
      name: 'reading refused',
      step: 'get-probe',
      code: 'AuthorizationPermissionMismatch',
      advice: /Storage Blob Data Contributor/,
      arrange: (_t, body) => {
        viaProxy(body);
        proxy.failNext('GET', 'AuthorizationPermissionMismatch');
      },
    },
    {
      name: 'unwrapKey refused',
      step: 'unwrap-key',
      code: 'ForbiddenByRbac',
      advice: /role/i,
      arrange: (t) => world.azure.revoke(t.keyName, t.clientId, ['unwrapKey']),
    },
    {
      name: 'deleting refused',
      step: 'delete-probe',
      code: 'AuthorizationPermissionMismatch',
      advice: /Storage Blob Data Contributor/,
      arrange: (_t, body) => {
        viaProxy(body);
        proxy.failNext('DELETE', 'AuthorizationPermissionMismatch');
      },
    },
  ];

  beforeAll(async () => {
    ({ world, h, close } = await startAzureHarness({ workers: false }));
    proxy = await new FaultProxy(new URL(world.azurite.accountUrl).origin, 'azure').start();
  });
  afterAll(async () => {
    await proxy?.stop();
    await close?.();
  });

  it('covers every step', () => {
    expect(new Set(cases.map((c) => c.step))).toEqual(new Set(STEPS));
  });

  for (const c of cases) {
    it(`${c.name}: fails at ${c.step} with ${c.code}, activates nothing`, async () => {
      const t = await setupAzureTenant(h, world, `azhs-${++n}`, { register: false });
      const body = azureBody(world, t);
      c.arrange(t, body);
      const res = await api(h, 'PUT', `/v1/tenants/${t.tenantId}/storage`, { json: body });
      expectHandshakeFailedAt(res, STEPS, c);
      expect(res.bytes.toString()).not.toContain(t.clientSecret);
      expect(res.bytes.toString()).not.toContain('injected');

      expect((await api(h, 'GET', `/v1/tenants/${t.tenantId}/storage`)).body).toEqual({
        active: null,
        history: [],
      });
      const left: string[] = [];
      const container = world.azurite.serviceClient().getContainerClient(t.container);
      for await (const b of container.listBlobsFlat()) left.push(b.name);
      expect(left).toEqual([]);
    });
  }
});
