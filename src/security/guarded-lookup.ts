/**
 * Connect-time half of the SSRF guard (see endpoint-guard.ts for the registration-time half).
 *
 * `assertEndpointAllowed` checks what a tenant's host resolves to when the endpoint is
 * registered, but the HTTP clients resolve the name again for every new connection, so a
 * hostile DNS server can answer with a public address then and a private one later (DNS
 * rebinding). `guardedLookup` is a drop-in `lookup` for `net.connect`/`http.Agent` that
 * re-applies the same rules to the addresses each connection will actually use: the socket
 * connects to exactly the address we checked, so there is no second resolution to race.
 *
 * IP-literal hosts never reach `lookup` (net connects to them directly). They cannot
 * rebind — the address is the host — and registration already checked them, but the agents
 * in guarded-http.ts still run `refuseLiteralHost` before connecting, so the guard does not
 * depend on every URL having gone through registration (or on the allow list being unchanged).
 */
import { promises as dns, type LookupAddress } from 'node:dns';
import { isIP, type TcpNetConnectOpts } from 'node:net';
import { type AllowList, isAddressBlocked, parseAllowList } from './endpoint-guard.js';

/** Host name → addresses, like `EndpointGuardOptions.resolve` (tests inject a fake DNS). */
export type Resolve = (host: string) => Promise<string[]>;

/** The `lookup` option of `net.connect` / `http.Agent` (same shape as `dns.lookup`). */
export type LookupFunction = NonNullable<TcpNetConnectOpts['lookup']>;

/**
 * Raised (through the socket's 'error') when a connection would reach a blocked address.
 * A plain Error, not an AppError: it surfaces from inside the SDKs, far from any request.
 */
export class EndpointNotAllowedError extends Error {
  readonly code = 'ENDPOINT_NOT_ALLOWED';
  override readonly name = 'EndpointNotAllowedError';

  constructor(host: string, literal: boolean) {
    // Names the host (the tenant's own input) but never the resolved address, which could
    // reveal internal DNS to the tenant when this error ends up in a job or API response.
    super(
      `refused to connect to ${host}: it ${literal ? 'is' : 'resolves to'} a loopback, link-local, ` +
        'metadata, private or reserved address (the operator can allow it with CUSTODY_ALLOW_PRIVATE_ENDPOINTS)',
    );
  }
}

export function toAllowList(allow: AllowList | readonly string[]): AllowList {
  return isStringList(allow) ? parseAllowList(allow) : allow;
}

function isStringList(allow: AllowList | readonly string[]): allow is readonly string[] {
  return Array.isArray(allow);
}

/** Lower-case, no IPv6 brackets, no trailing dots: the form `parseAllowList` stores host names in. */
function normalizeHost(host: string): string {
  return host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.+$/, '');
}

/**
 * True when connecting to `address` is fine: not in a blocked range, or covered by an allowed
 * IP/CIDR. (Node's BlockList matches IPv4-mapped IPv6 addresses against IPv4 rules itself.)
 */
function addressAllowed(address: string, allow: AllowList): boolean {
  if (!isAddressBlocked(address)) return true;
  const bare = address.replace(/%.*$/, ''); // BlockList does not take IPv6 zone ids (fe80::1%eth0)
  const version = isIP(bare);
  return version !== 0 && allow.addresses.check(bare, version === 4 ? 'ipv4' : 'ipv6');
}

/** The refusal for an IP-literal host, or undefined when `host` is allowed or is a name. */
export function refuseLiteralHost(host: string, allow: AllowList): EndpointNotAllowedError | undefined {
  const h = normalizeHost(host);
  if (isIP(h.replace(/%.*$/, '')) === 0) return undefined; // a name: guardedLookup checks it
  return addressAllowed(h, allow) ? undefined : new EndpointNotAllowedError(h, true);
}

async function defaultResolve(host: string): Promise<string[]> {
  const results = await dns.lookup(host, { all: true, verbatim: true });
  return results.map((r) => r.address);
}

function wantedFamily(family: number | 'IPv4' | 'IPv6' | undefined): 0 | 4 | 6 {
  if (family === 4 || family === 'IPv4') return 4;
  if (family === 6 || family === 'IPv6') return 6;
  return 0;
}

function notFound(host: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), {
    code: 'ENOTFOUND',
    syscall: 'getaddrinfo',
    hostname: host,
  });
}

/**
 * A `lookup` for sockets to tenant endpoints. Resolves `hostname` (with `resolve`, default
 * `dns.lookup`), then refuses with `EndpointNotAllowedError` when ANY address is blocked
 * and not covered by the allow list — unless the host name itself is allowed. Every address
 * is checked, not only the one returned, to match registration ("resolves to ANY blocked
 * address") and because with `all: true` net may try each of them (happy eyeballs).
 */
export function guardedLookup(allow: AllowList | readonly string[], resolve: Resolve = defaultResolve) {
  const list = toAllowList(allow);
  const lookup: LookupFunction = (hostname, options, callback) => {
    const host = normalizeHost(hostname);
    const hostAllowed = list.hosts.has(host);
    resolve(hostname).then(
      (resolved) => {
        const addresses: LookupAddress[] = [];
        for (const address of resolved) {
          const version = isIP(address);
          if (version === 0 || (!hostAllowed && !addressAllowed(address, list))) {
            // Not an address at all: fail closed rather than let net guess what it means.
            callback(new EndpointNotAllowedError(host, false), '');
            return;
          }
          addresses.push({ address, family: version });
        }
        const family = wantedFamily(options.family);
        const usable = family === 0 ? addresses : addresses.filter((a) => a.family === family);
        const first = usable[0];
        if (first === undefined) callback(notFound(hostname), '');
        // Node 20 asks for `all: true` when autoSelectFamily (on by default) is in effect.
        else if (options.all === true) callback(null, usable);
        else callback(null, first.address, first.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };
  return lookup;
}
