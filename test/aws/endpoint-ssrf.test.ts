import { lookup } from 'node:dns/promises';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAddressBlocked } from '../../src/security/endpoint-guard.js';
import { expectProblem } from '../integration/contract-helpers.js';
import { type AwsWorld, s3Body, setupS3Tenant, startAwsHarness } from '../support/aws-world.js';
import { api } from '../support/client.js';
import type { Harness } from '../support/harness.js';

/**
 * Tenant-supplied endpoints must not reach into the service's own network. The operator
 * allows exactly s3rver's address and port family (`127.0.0.1`); everything else that is
 * local, link-local (cloud metadata) or private is refused before any connection, with
 * 400 ENDPOINT_NOT_ALLOWED, and nothing is registered.
 */
describe('SSRF guard on the S3 endpoint', () => {
  let world: AwsWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let n = 0;

  beforeAll(async () => {
    ({ world, h, close } = await startAwsHarness({ workers: false }));
  });
  afterAll(async () => {
    await close?.();
  });

  const register = async (endpoint: string) => {
    const t = await setupS3Tenant(h, world, `ssrf-${++n}`, { register: false });
    const res = await api(h, 'PUT', `/v1/tenants/${t.tenantId}/storage`, {
      json: { ...s3Body(world, t), endpoint },
    });
    return { t, res };
  };

  const refused: [string, string][] = [
    ['the cloud metadata address', 'http://169.254.169.254/latest/meta-data/'],
    ['the metadata address over IPv6-mapped IPv4', 'http://[::ffff:169.254.169.254]/'],
    ['loopback by name', 'http://localhost:9000'],
    ['IPv6 loopback', 'http://[::1]:9000'],
    ['another loopback address', 'http://127.0.0.2:9000'],
    ['a private 10/8 address', 'https://10.1.2.3'],
    ['a private 192.168/16 address', 'https://192.168.0.10:9000'],
    ['a private 172.16/12 address', 'https://172.20.0.1'],
    ['carrier-grade NAT', 'https://100.64.0.1'],
    ['credentials in the URL', 'https://user:pw@s3.example.com'],
    ['a non-http scheme', 'file:///etc/passwd'],
  ];

  for (const [what, endpoint] of refused) {
    it(`refuses ${what}`, async () => {
      const { t, res } = await register(endpoint);
      expectProblem(res, 400, 'ENDPOINT_NOT_ALLOWED');
      expect(res.body.detail).toContain('endpoint');
      // The refused URL is not echoed (it may carry credentials or reveal internal names).
      expect(res.bytes.toString()).not.toContain('pw@');
      expect((await api(h, 'GET', `/v1/tenants/${t.tenantId}/storage`)).body.active).toBeNull();
      expect(world.aws.callsOf('AssumeRole').filter((c: any) => c.roleArn === t.roleArn)).toEqual([]);
    });
  }

  it('accepts the endpoint the operator allowed and registers through it', async () => {
    const { res } = await register(world.s3.endpoint);
    expect(res.status, res.bytes.toString()).toBe(200);
    expect(res.body).toMatchObject({ status: 'active' });
  });
});

describe('SSRF guard with no private endpoint allowed', () => {
  let world: AwsWorld;
  let h: Harness;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ world, h, close } = await startAwsHarness({
      env: { CUSTODY_ALLOW_PRIVATE_ENDPOINTS: '' },
      workers: false,
    }));
  });
  afterAll(async () => {
    await close?.();
  });

  it('refuses even the local S3 server', async () => {
    const t = await setupS3Tenant(h, world, 'ssrf-strict', { register: false });
    const res = await api(h, 'PUT', `/v1/tenants/${t.tenantId}/storage`, { json: s3Body(world, t) });
    expectProblem(res, 400, 'ENDPOINT_NOT_ALLOWED');
  });

  it('refuses a name that resolves to a local address (this machine’s own host name)', async () => {
    const host = os.hostname();
    const addresses = (await lookup(host, { all: true })).map((a) => a.address);
    // Precondition: the host name resolves to loopback or a private address, never public.
    expect(addresses.length).toBeGreaterThan(0);
    expect(addresses.every((a) => isAddressBlocked(a))).toBe(true);
    const t = await setupS3Tenant(h, world, 'ssrf-hostname', { register: false });
    const res = await api(h, 'PUT', `/v1/tenants/${t.tenantId}/storage`, {
      json: { ...s3Body(world, t), endpoint: `http://${host}:9000` },
    });
    expectProblem(res, 400, 'ENDPOINT_NOT_ALLOWED');
  });
});
