import { describe, expect, test } from 'vitest';
import { AppError } from '../../../src/errors.js';
import {
  assertEndpointAllowed,
  type EndpointGuardOptions,
  isAddressBlocked,
  parseAllowList,
} from '../../../src/security/endpoint-guard.js';

/** Fake DNS: unknown names fail like getaddrinfo's ENOTFOUND. */
const DNS: Record<string, string[]> = {
  's3.example.com': ['52.216.1.2'],
  'kms.example.com': ['2600:1f18::1', '52.94.1.1'],
  'rebind.example.com': ['10.1.2.3'],
  'mixed.example.com': ['52.216.1.2', '192.168.0.10'],
  'mixed6.example.com': ['2606:4700::1111', 'fe80::1'],
  'mapped.example.com': ['::ffff:169.254.169.254'],
  'minio.internal': ['10.0.0.5'],
  'two-private.internal': ['10.0.0.5', '192.168.0.1'],
  'v6.internal': ['fd12:3456::1'],
  'empty.example.com': [],
  'garbage.example.com': ['not-an-ip'],
  // Blocked names resolve to public addresses here, to prove the name alone refuses them.
  localhost: ['52.216.1.2'],
  'foo.localhost': ['52.216.1.2'],
  'metadata.google.internal': ['52.216.1.2'],
};
const calls: string[] = [];
const resolve = async (host: string): Promise<string[]> => {
  calls.push(host);
  const hit = DNS[host];
  if (hit === undefined)
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return hit;
};
const opts = (allow: string[] = []): EndpointGuardOptions => ({ allow, resolve });

async function refused(url: string, allow: string[] = [], field = 'endpoint'): Promise<AppError> {
  const err = await assertEndpointAllowed(url, field, opts(allow)).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `${url} should be refused`).toBeInstanceOf(AppError);
  const app = err as AppError;
  expect(app.status).toBe(400);
  expect(app.code).toBe('ENDPOINT_NOT_ALLOWED');
  expect(app.message).toContain(`\`${field}\``);
  expect(app.extra).toEqual({ field });
  return app;
}

async function allowed(url: string, allow: string[] = []): Promise<URL> {
  const parsed = await assertEndpointAllowed(url, 'endpoint', opts(allow));
  expect(parsed).toBeInstanceOf(URL);
  return parsed;
}

describe('assertEndpointAllowed: public endpoints', () => {
  test.each([
    'https://s3.example.com',
    'https://S3.Example.COM:8443/bucket?x=1',
    'https://kms.example.com/keys/abc',
    'https://52.216.1.2/',
    'https://[2606:4700::1111]/',
    'https://[::ffff:8.8.8.8]/',
    // Boundaries just outside blocked ranges.
    'https://100.63.255.255/',
    'https://100.128.0.1/',
    'https://172.15.255.255/',
    'https://172.32.0.1/',
    'https://169.253.255.255/',
    'https://198.17.255.255/',
    'https://198.20.0.1/',
    'https://223.255.255.255/',
    'https://11.0.0.1/',
  ])('%s → ok', async (url) => {
    const parsed = await allowed(url);
    expect(parsed.href).toBe(new URL(url).href);
  });

  test('IP literals are not sent to the resolver', async () => {
    calls.length = 0;
    await allowed('https://52.216.1.2/');
    await refused('https://10.0.0.1/');
    expect(calls).toEqual([]);
  });
});

const BLOCKED_ADDRESSES = [
  ['0.0.0.0/8', '0.0.0.0'],
  ['0.0.0.0/8', '0.1.2.3'],
  ['10/8', '10.0.0.1'],
  ['10/8', '10.255.255.255'],
  ['100.64/10', '100.64.0.1'],
  ['100.64/10', '100.127.255.254'],
  ['127/8', '127.0.0.1'],
  ['127/8', '127.1.2.3'],
  ['169.254/16', '169.254.0.1'],
  ['metadata', '169.254.169.254'],
  ['172.16/12', '172.16.0.1'],
  ['172.16/12', '172.31.255.255'],
  ['192.0.0/24', '192.0.0.8'],
  ['192.168/16', '192.168.1.1'],
  ['198.18/15', '198.18.0.1'],
  ['198.18/15', '198.19.255.255'],
  ['multicast', '224.0.0.1'],
  ['multicast', '239.255.255.250'],
  ['reserved', '240.0.0.1'],
  ['broadcast', '255.255.255.255'],
  ['::/128', '::'],
  ['::1/128', '::1'],
  ['fc00::/7', 'fc00::1'],
  ['fc00::/7', 'fd12:3456::1'],
  ['fe80::/10', 'fe80::1'],
  ['fe80::/10', 'febf::ffff'],
  ['ff00::/8', 'ff02::1'],
  ['AWS IMDS v6', 'fd00:ec2::254'],
  ['IPv4-mapped loopback', '::ffff:127.0.0.1'],
  ['IPv4-mapped metadata', '::ffff:169.254.169.254'],
  ['IPv4-mapped private (hex)', '::ffff:a00:1'],
  ['NAT64 of metadata', '64:ff9b::a9fe:a9fe'],
] as const;

describe('assertEndpointAllowed: blocked ranges', () => {
  test.each(BLOCKED_ADDRESSES)('%s: IP literal %s → refused', async (_range, ip) => {
    const host = ip.includes(':') ? `[${ip}]` : ip;
    const err = await refused(`https://${host}/bucket`);
    expect(err.message).toMatch(/is a loopback, link-local, metadata, private or reserved address/);
  });

  test.each(BLOCKED_ADDRESSES)('%s: public name resolving to %s → refused', async (_range, ip) => {
    const err = await assertEndpointAllowed('https://evil.example.net/', 'accountUrl', {
      allow: [],
      resolve: async () => [ip],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ status: 400, code: 'ENDPOINT_NOT_ALLOWED' });
    expect((err as AppError).message).toContain('`accountUrl`');
    expect((err as AppError).message).not.toContain(ip); // internal DNS is not echoed
  });

  test.each(BLOCKED_ADDRESSES)('isAddressBlocked(%s: %s)', (_range, ip) => {
    expect(isAddressBlocked(ip)).toBe(true);
  });

  test.each(['52.216.1.2', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', 'fec0::1'])(
    'isAddressBlocked(%s) is false',
    (ip) => {
      expect(isAddressBlocked(ip)).toBe(false);
    },
  );

  test.each([
    ['decimal', 'https://2130706433/'],
    ['hex', 'https://0x7f000001/'],
    ['octal', 'https://0177.0.0.1/'],
    ['short form', 'https://127.1/'],
    ['mapped literal', 'https://[::ffff:127.0.0.1]/'],
    ['IPv4-compatible', 'https://[::127.0.0.1]/'],
  ])('alternative loopback spelling (%s) %s → refused', async (_what, url) => {
    await refused(url);
  });

  test.each([
    'https://localhost/',
    'https://LOCALHOST:9000/',
    'https://localhost./',
    'https://foo.localhost/',
    'https://a.b.LocalHost/',
    'https://metadata.google.internal/computeMetadata/v1/',
    'https://METADATA.google.internal./',
  ])('blocked name %s → refused whatever it resolves to', async (url) => {
    const err = await refused(url);
    expect(err.message).toMatch(/local or metadata name/);
  });

  test('a public-looking name resolving to a private address (rebinding-style) → refused', async () => {
    const err = await refused('https://rebind.example.com/');
    expect(err.message).toContain('rebind.example.com');
  });

  test.each(['https://mixed.example.com/', 'https://mixed6.example.com/', 'https://mapped.example.com/'])(
    'mixed public + private results %s → refused',
    async (url) => {
      await refused(url);
    },
  );
});

describe('assertEndpointAllowed: operator allow list', () => {
  test.each([
    ['host name', ['minio.internal'], 'https://minio.internal:9000/'],
    ['host name, case-insensitive', ['MinIO.Internal.'], 'https://MINIO.internal/'],
    ['host name allows a blocked name', ['localhost'], 'https://localhost:4566/'],
    ['host name allows every address', ['two-private.internal'], 'https://two-private.internal/'],
    ['IP, via resolution', ['10.0.0.5'], 'https://minio.internal/'],
    ['IP literal', ['10.0.0.5'], 'https://10.0.0.5/'],
    ['v4 CIDR', ['10.0.0.0/8'], 'https://10.20.30.40/'],
    ['v4 CIDR via resolution', ['10.0.0.0/8'], 'https://rebind.example.com/'],
    ['two entries for two addresses', ['10.0.0.0/8', '192.168.0.0/16'], 'https://two-private.internal/'],
    ['v6 CIDR', ['fd00::/8'], 'https://v6.internal/'],
    ['v6 CIDR, literal', ['fd00::/8'], 'https://[fd12:3456::1]/'],
    ['v6 IP', ['::1'], 'https://[::1]:8443/'],
    ['bracketed v6 IP', ['[::1]'], 'https://[::1]/'],
    ['v4 CIDR covers a mapped v6 literal', ['127.0.0.0/8'], 'https://[::ffff:127.0.0.1]/'],
    ['metadata (explicitly)', ['169.254.169.254'], 'https://169.254.169.254/'],
  ])('%s → ok', async (_what, allow, url) => {
    await allowed(url, allow);
  });

  test.each([
    ['other IP', ['10.0.0.6'], 'https://10.0.0.5/'],
    ['other CIDR', ['10.0.0.0/8'], 'https://192.168.1.1/'],
    ['only one of two addresses covered', ['10.0.0.0/8'], 'https://two-private.internal/'],
    ['other v6 CIDR', ['fd00::/8'], 'https://[fe80::1]/'],
    ['other host name', ['minio.internal'], 'https://rebind.example.com/'],
    ['no suffix matching', ['internal'], 'https://minio.internal/'],
    ['allowing loopback IPs does not allow the name localhost', ['127.0.0.0/8'], 'https://localhost/'],
  ])('%s → refused', async (_what, allow, url) => {
    await refused(url, allow);
  });
});

describe('assertEndpointAllowed: scheme, credentials, malformed input', () => {
  test.each([
    'http://s3.example.com/',
    'http://52.216.1.2/',
    'ftp://s3.example.com/',
    'file:///etc/passwd',
    'gopher://s3.example.com/',
    'javascript:alert(1)',
    'data:text/plain,hi',
    'ws://s3.example.com/',
  ])('%s → refused (https only)', async (url) => {
    const err = await refused(url);
    expect(err.message).toMatch(/https/);
  });

  test.each([
    ['by host name', ['minio.internal'], 'http://minio.internal:9000/'],
    ['by IP literal', ['10.0.0.5'], 'http://10.0.0.5/'],
    ['by CIDR covering every address', ['10.0.0.0/8'], 'http://minio.internal/'],
  ])('http allowed %s', async (_what, allow, url) => {
    const parsed = await allowed(url, allow);
    expect(parsed.protocol).toBe('http:');
  });

  test('http is refused when only some of the addresses are allowed', async () => {
    await refused('http://mixed.example.com/', ['192.168.0.0/16']);
  });

  test.each([
    'https://AKIAEXAMPLEUSER:s3cr3tP4ss@s3.example.com/bucket',
    'https://tok3nOnly@s3.example.com/',
    'https://:s3cr3tP4ss@s3.example.com/',
    'http://AKIAEXAMPLEUSER:s3cr3tP4ss@10.0.0.5/',
  ])('userinfo %s → refused, never echoed', async (url) => {
    const err = await refused(url, ['10.0.0.5']);
    expect(err.message).toMatch(/credentials/);
    for (const secret of ['AKIAEXAMPLEUSER', 's3cr3tP4ss', 'tok3nOnly']) {
      expect(err.message).not.toContain(secret);
      expect(JSON.stringify(err.extra)).not.toContain(secret);
    }
  });

  test.each(['https://nxdomain.example.com/', 'https://empty.example.com/', 'https://garbage.example.com/'])(
    'unresolvable %s → refused',
    async (url) => {
      const err = await refused(url);
      expect(err.message).toMatch(/does not resolve/);
    },
  );

  test('the resolver error is kept as the cause (for logs), not in the detail', async () => {
    const err = await refused('https://nxdomain.example.com/');
    expect(err.cause).toBeInstanceOf(Error);
    expect(err.message).not.toContain('ENOTFOUND');
  });

  test.each([
    '',
    '   ',
    's3.example.com',
    '/relative/path',
    'https://',
    'https://[::1',
    'https://exa mple.com/',
    'not a url with s3cr3tP4ss',
  ])('invalid URL %j → refused', async (url) => {
    const err = await refused(url, [], 'keyId');
    if (url.trim() !== '') expect(err.message).not.toContain(url.trim());
  });

  test('a non-string value → refused', async () => {
    await refused(42 as unknown as string);
  });
});

describe('default resolver (real DNS, offline-safe names)', () => {
  test('allowed localhost resolves through dns.lookup', async () => {
    const parsed = await assertEndpointAllowed('https://localhost:4566/', 'endpoint', {
      allow: ['localhost'],
    });
    expect(parsed.port).toBe('4566');
  });

  test('a .invalid name does not resolve', async () => {
    const err = await assertEndpointAllowed('https://custody-test.invalid/', 'endpoint', { allow: [] }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ status: 400, code: 'ENDPOINT_NOT_ALLOWED' });
    expect((err as AppError).message).toMatch(/does not resolve/);
  }, 15_000);
});

describe('parseAllowList', () => {
  test('normalises host names, IPs and CIDRs; ignores blanks', () => {
    const list = parseAllowList([
      ' MinIO.Internal. ',
      '',
      '  ',
      '10.0.0.5',
      '[::1]',
      '172.16.0.0/12',
      'fd00::/8',
    ]);
    expect([...list.hosts]).toEqual(['minio.internal']);
    expect(list.addresses.check('10.0.0.5', 'ipv4')).toBe(true);
    expect(list.addresses.check('10.0.0.6', 'ipv4')).toBe(false);
    expect(list.addresses.check('::1', 'ipv6')).toBe(true);
    expect(list.addresses.check('172.31.0.1', 'ipv4')).toBe(true);
    expect(list.addresses.check('fdff::1', 'ipv6')).toBe(true);
  });

  test.each([
    '10.0.0.0/33',
    '10.0.0.0/x',
    '10.0.0.0/',
    '10.0.0.0/8/8',
    '300.1.1.1/8',
    'fd00::/129',
    'not-an-ip/8',
    '*.corp.example',
    'minio.internal:9000',
    'http://minio.internal',
    'bad host',
  ])('invalid entry %j throws a clear Error', (entry) => {
    expect(() => parseAllowList([entry])).toThrow(/Invalid CUSTODY_ALLOW_PRIVATE_ENDPOINTS entry/);
  });

  test('assertEndpointAllowed surfaces a bad allow list as a plain Error (operator config, not a 400)', async () => {
    const err = await assertEndpointAllowed(
      'https://s3.example.com/',
      'endpoint',
      opts(['10.0.0.0/99']),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(AppError);
    expect((err as Error).message).toContain('10.0.0.0/99');
  });
});
