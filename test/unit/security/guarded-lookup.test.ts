import type { LookupAddress } from 'node:dns';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { KMSClient, type KMSClientConfig, ListKeysCommand } from '@aws-sdk/client-kms';
import { HeadBucketCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand, STSClient, type STSClientConfig } from '@aws-sdk/client-sts';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
  type GuardedAgents,
  guardedAgents,
  guardedRequestHandlerOptions,
} from '../../../src/security/guarded-http.js';
import { guardedLookup, type Resolve } from '../../../src/security/guarded-lookup.js';

/** Fake DNS: each name maps to a list of answers, consumed in turn (the last one repeats). */
function fakeDns(answers: Record<string, string[][]>): Resolve {
  return async (host) => {
    const queue = answers[host];
    if (queue === undefined || queue.length === 0) {
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    }
    return (queue.length > 1 ? queue.shift() : queue[0])!;
  };
}

const DNS = () =>
  fakeDns({
    'evil.test': [['127.0.0.1']],
    'metadata.test': [['169.254.169.254']],
    'mapped.test': [['::ffff:127.0.0.1']],
    'public.test': [['52.216.1.2']],
    'dual.test': [['2600:1f18::1', '52.216.1.2']],
    'half-private.test': [['52.216.1.2', '10.0.0.7']],
  });

/** Calls a lookup function the way net does and returns what it called back with. */
function callLookup(lookup: ReturnType<typeof guardedLookup>, host: string, options: object) {
  return new Promise<{ address: string | LookupAddress[]; family?: number }>((resolve, reject) =>
    lookup(host, options, (err, address, family) => (err ? reject(err) : resolve({ address, family }))),
  );
}

const guardError = { code: 'ENDPOINT_NOT_ALLOWED', name: 'EndpointNotAllowedError' };

describe('guardedLookup (called directly)', () => {
  test('answers the { all: true } form with every address and the single form with the first', async () => {
    const lookup = guardedLookup([], DNS());
    expect(await callLookup(lookup, 'dual.test', { all: true })).toEqual({
      address: [
        { address: '2600:1f18::1', family: 6 },
        { address: '52.216.1.2', family: 4 },
      ],
      family: undefined,
    });
    expect(await callLookup(lookup, 'dual.test', {})).toEqual({ address: '2600:1f18::1', family: 6 });
    expect(await callLookup(lookup, 'dual.test', { family: 4 })).toEqual({
      address: '52.216.1.2',
      family: 4,
    });
    await expect(callLookup(lookup, 'public.test', { family: 6 })).rejects.toMatchObject({
      code: 'ENOTFOUND',
    });
    await expect(callLookup(lookup, 'nowhere.test', {})).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  test('refuses a host when any address is blocked, naming the host but not the address', async () => {
    const lookup = guardedLookup([], DNS());
    const err = await callLookup(lookup, 'half-private.test', { all: true }).catch((e: Error) => e);
    expect(err).toMatchObject(guardError);
    expect((err as Error).message).toContain('half-private.test');
    expect((err as Error).message).not.toContain('10.0.0.7');
    await expect(callLookup(lookup, 'metadata.test', {})).rejects.toMatchObject(guardError);
    await expect(callLookup(lookup, 'mapped.test', {})).rejects.toMatchObject(guardError);
  });

  test('a rebinding answer (public, then private) is refused on the second lookup', async () => {
    const lookup = guardedLookup([], fakeDns({ 'rebind.test': [['52.216.1.2'], ['10.1.2.3']] }));
    expect(await callLookup(lookup, 'rebind.test', {})).toEqual({ address: '52.216.1.2', family: 4 });
    await expect(callLookup(lookup, 'rebind.test', {})).rejects.toMatchObject(guardError);
  });

  test('the allow list covers addresses (IPs, CIDRs, incl. IPv4-mapped) or whole host names', async () => {
    const dns = DNS();
    await expect(
      callLookup(guardedLookup(['10.0.0.0/8'], dns), 'half-private.test', {}),
    ).resolves.toBeDefined();
    await expect(callLookup(guardedLookup(['127.0.0.1'], dns), 'mapped.test', {})).resolves.toBeDefined();
    await expect(callLookup(guardedLookup(['Metadata.Test.'], dns), 'metadata.test', {})).resolves.toEqual({
      address: '169.254.169.254',
      family: 4,
    });
  });

  test('fails closed on a resolver answer that is not an address, even for an allowed name', async () => {
    const lookup = guardedLookup(['odd.test'], fakeDns({ 'odd.test': [['not-an-ip']] }));
    await expect(callLookup(lookup, 'odd.test', {})).rejects.toMatchObject(guardError);
  });
});

describe('guarded agents (real sockets)', () => {
  let server: http.Server;
  let port: number;
  let connections = 0;
  let requests: string[] = [];
  const agents: GuardedAgents[] = [];
  const clients: { destroy(): void }[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      res.setHeader('connection', 'close'); // a new connection (and lookup) per request
      res.end('ok');
    });
    server.on('connection', () => connections++);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });
  beforeEach(() => {
    connections = 0;
    requests = [];
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.destroy();
    for (const a of agents.splice(0)) {
      a.httpAgent.destroy();
      a.httpsAgent.destroy();
    }
  });

  /** `resolve: 'system'` uses the real resolver (the guard's default). */
  const agentsFor = (allow: string[], resolve: Resolve | 'system' = DNS()) => {
    const a = guardedAgents(allow, resolve === 'system' ? {} : { resolve });
    agents.push(a);
    return a;
  };

  function get(url: string, agent: http.Agent): Promise<string> {
    return new Promise((resolve, reject) => {
      http
        .get(url, { agent }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => {
            body += d.toString();
          });
          res.on('end', () => resolve(body));
        })
        .on('error', reject);
    });
  }

  test('a name resolving to loopback is refused before any connection', async () => {
    const { httpAgent } = agentsFor([]);
    const err = await get(`http://evil.test:${port}/x`, httpAgent).catch((e: Error) => e);
    expect(err).toMatchObject(guardError);
    expect((err as Error).message).toContain('evil.test');
    expect((err as Error).message).not.toContain('127.0.0.1');
    expect(connections).toBe(0);
  });

  test('localhost through the real resolver is refused', async () => {
    const { httpAgent } = agentsFor([], 'system');
    await expect(get(`http://localhost:${port}/x`, httpAgent)).rejects.toMatchObject(guardError);
    expect(connections).toBe(0);
  });

  test('the https agent is guarded too', async () => {
    const { httpsAgent } = agentsFor([]);
    const req = (await import('node:https')).get(`https://evil.test:${port}/x`, { agent: httpsAgent });
    const [err] = (await once(req, 'error')) as [Error];
    expect(err).toMatchObject(guardError);
    expect(connections).toBe(0);
  });

  test.each([['127.0.0.1'], ['127.0.0.0/8'], ['evil.test']])(
    'allow %s lets evil.test through',
    async (entry) => {
      const { httpAgent } = agentsFor([entry]);
      expect(await get(`http://evil.test:${port}/ok`, httpAgent)).toBe('ok');
      expect(requests).toEqual(['GET /ok']);
    },
  );

  test('a rebinding answer is refused on the second connection', async () => {
    // The first answer stands in for a public address: one the guard lets through and the test can reach.
    const resolve = fakeDns({ 'rebind.test': [['127.0.0.1'], ['169.254.169.254']] });
    const { httpAgent } = agentsFor(['127.0.0.1'], resolve);
    expect(await get(`http://rebind.test:${port}/first`, httpAgent)).toBe('ok');
    await expect(get(`http://rebind.test:${port}/second`, httpAgent)).rejects.toMatchObject(guardError);
    expect(connections).toBe(1);
    expect(requests).toEqual(['GET /first']);
  });

  test('names resolving to the metadata address or an IPv4-mapped loopback are refused', async () => {
    const { httpAgent } = agentsFor([]);
    await expect(get(`http://metadata.test:${port}/`, httpAgent)).rejects.toMatchObject(guardError);
    await expect(get(`http://mapped.test:${port}/`, httpAgent)).rejects.toMatchObject(guardError);
    expect(connections).toBe(0);
  });

  test('IP-literal hosts (which skip lookup) are checked by the agent before connecting', async () => {
    const { httpAgent } = agentsFor([]);
    for (const host of ['127.0.0.1', '169.254.169.254', '[::ffff:127.0.0.1]', '[::1]']) {
      await expect(get(`http://${host}:${port}/`, httpAgent)).rejects.toMatchObject(guardError);
    }
    expect(connections).toBe(0);
    expect(await get(`http://127.0.0.1:${port}/lit`, agentsFor(['127.0.0.1']).httpAgent)).toBe('ok');
  });

  test('net.connect calls the lookup in both forms (autoSelectFamily on and off)', async () => {
    for (const autoSelectFamily of [true, false]) {
      const lookup = guardedLookup([], DNS());
      const socket = net.connect({ host: 'evil.test', port, lookup, autoSelectFamily });
      const [err] = (await once(socket, 'error')) as [Error];
      expect(err).toMatchObject(guardError);

      const allowed = net.connect({
        host: 'evil.test',
        port,
        lookup: guardedLookup(['evil.test'], DNS()),
        autoSelectFamily,
      });
      await once(allowed, 'connect');
      allowed.destroy();
    }
    await expect.poll(() => connections).toBe(2);
  });

  const sdkConfig = (allow: string[]) => ({
    region: 'us-east-1',
    endpoint: `http://evil.test:${port}`,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts: 1,
    requestHandler: guardedRequestHandlerOptions(allow, { resolve: DNS(), connectionTimeout: 2000 }),
  });

  test('an S3Client using the options refuses evil.test and the server gets no request', async () => {
    const config: S3ClientConfig = { ...sdkConfig([]), forcePathStyle: true };
    const s3 = new S3Client(config);
    clients.push(s3);
    await expect(s3.send(new HeadBucketCommand({ Bucket: 'b' }))).rejects.toMatchObject(guardError);
    expect(connections).toBe(0);
    expect(requests).toEqual([]);

    // Control: the same client set-up reaches the server once the operator allows the host.
    const allowed = new S3Client({ ...sdkConfig(['evil.test']), forcePathStyle: true });
    clients.push(allowed);
    await allowed.send(new HeadBucketCommand({ Bucket: 'b' }));
    expect(requests).toEqual(['HEAD /b/']);
  });

  test('STS and KMS clients accept the options and are guarded', async () => {
    const stsConfig: STSClientConfig = sdkConfig([]);
    const kmsConfig: KMSClientConfig = sdkConfig([]);
    const sts = new STSClient(stsConfig);
    const kms = new KMSClient(kmsConfig);
    clients.push(sts, kms);
    await expect(sts.send(new GetCallerIdentityCommand({}))).rejects.toMatchObject(guardError);
    await expect(kms.send(new ListKeysCommand({}))).rejects.toMatchObject(guardError);
    expect(connections).toBe(0);
  });
});
