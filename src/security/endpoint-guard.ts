/**
 * SSRF guard for tenant-supplied URLs (`endpoint`, `accountUrl`, `keyId`): see the
 * `ENDPOINT_NOT_ALLOWED` rule in the API contract. A URL is refused (400) when its host
 * is a local/metadata name or resolves to ANY loopback, link-local, metadata, private or
 * reserved address, unless the operator allows it (`CUSTODY_ALLOW_PRIVATE_ENDPOINTS`:
 * host names, IPs or CIDRs).
 *
 * DNS rebinding: this checks what the name resolves to *now*, at registration; the SDK/HTTP
 * clients resolve again when they connect, so a hostile DNS server could answer with a
 * public address here and a private one later. guarded-lookup.ts closes that gap: its
 * `lookup` re-applies `isAddressBlocked`/the allow list to every connection, and the agents
 * of guarded-http.ts (`guardedRequestHandlerOptions`, `guardedAgents`) also check IP-literal
 * hosts, which skip lookup. It is closed only for clients built with those agents: every
 * outbound client to a tenant URL must use them, or this guard is a first line, not the whole defence.
 */
import { promises as dns } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { AppError } from '../errors.js';

export interface EndpointGuardOptions {
  /** Operator allow list: host names (exact, case-insensitive), IP addresses or CIDRs (v4/v6). */
  allow: string[];
  /** Host name → addresses. Defaults to `dns.promises.lookup(host, { all: true, verbatim: true })`. */
  resolve?: (host: string) => Promise<string[]>;
}

/** A parsed operator allow list. */
export interface AllowList {
  /** Lower-cased host names without a trailing dot. */
  readonly hosts: ReadonlySet<string>;
  /** Allowed addresses and subnets. */
  readonly addresses: BlockList;
}

const CODE = 'ENDPOINT_NOT_ALLOWED';

const BLOCKED_V4: ReadonlyArray<readonly [string, number]> = [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, incl. 169.254.169.254 cloud metadata
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 3], // multicast (224/4) and reserved (240/4), incl. broadcast
];

const BLOCKED_V6: ReadonlyArray<readonly [string, number]> = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['::', 96], // deprecated IPv4-compatible addresses (never legitimate targets)
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
  ['fd00:ec2::254', 128], // AWS IMDS over IPv6 (inside fc00::/7 too; listed for clarity)
];

const BLOCKED = (() => {
  const list = new BlockList();
  for (const [net, prefix] of BLOCKED_V4) list.addSubnet(net, prefix, 'ipv4');
  for (const [net, prefix] of BLOCKED_V6) list.addSubnet(net, prefix, 'ipv6');
  return list;
})();

const BLOCKED_NAMES = new Set(['localhost', 'metadata.google.internal']);

const HOST_NAME =
  /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** Lower-case, drop IPv6 brackets and trailing dots (`LocalHost.` ≡ `localhost`). */
function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  return h.replace(/\.+$/, '');
}

function isBlockedName(host: string): boolean {
  return BLOCKED_NAMES.has(host) || host.endsWith('.localhost');
}

/** Parses a textual IPv6 address (no zone) into 16 bytes, or undefined. */
function ipv6Bytes(address: string): Uint8Array | undefined {
  if (isIP(address) !== 6) return undefined;
  let text = address;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    for (const part of last.split('.')) tail.push(Number(part));
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const toGroups = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const hi = toGroups(head);
  const lo = rest === undefined ? [] : toGroups(rest);
  const groups =
    rest === undefined ? hi : [...hi, ...new Array<number>(8 - hi.length - lo.length).fill(0), ...lo];
  if (groups.length !== 8) return undefined;
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  if (tail.length === 4) bytes.set(tail, 12);
  return bytes;
}

interface CheckedAddress {
  address: string;
  family: 'ipv4' | 'ipv6';
  /** The IPv4 address carried inside an IPv4-mapped (::ffff:0:0/96) or NAT64 (64:ff9b::/96) address. */
  embeddedV4?: string;
}

/** Validates and classifies one address; undefined when it is not an IP address at all. */
function classify(raw: string): CheckedAddress | undefined {
  const address = normalizeHost(raw).replace(/%.*$/, ''); // drop an IPv6 zone id (fe80::1%eth0)
  const version = isIP(address);
  if (version === 4) return { address, family: 'ipv4' };
  if (version !== 6) return undefined;
  const b = ipv6Bytes(address);
  if (b === undefined) return undefined;
  const zeros = (from: number, to: number) => b.subarray(from, to).every((x) => x === 0);
  const v4 = `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const mapped = zeros(0, 10) && b[10] === 0xff && b[11] === 0xff;
  const nat64 = b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(4, 12);
  return mapped || nat64 ? { address, family: 'ipv6', embeddedV4: v4 } : { address, family: 'ipv6' };
}

/** True when the address is in a blocked range (IPv4-mapped/NAT64 v6 is judged by its v4 address). */
export function isAddressBlocked(raw: string): boolean {
  const a = classify(raw);
  if (a === undefined) return true; // not an IP: fail closed
  if (a.embeddedV4 !== undefined) return BLOCKED.check(a.embeddedV4, 'ipv4');
  return BLOCKED.check(a.address, a.family);
}

function isCovered(a: CheckedAddress, allow: AllowList): boolean {
  return (
    allow.addresses.check(a.address, a.family) ||
    (a.embeddedV4 !== undefined && allow.addresses.check(a.embeddedV4, 'ipv4'))
  );
}

/**
 * Parses operator allow-list entries (host names, IPs, CIDRs; blanks ignored). Throws a
 * plain Error naming the bad entry: this is operator configuration, not tenant input.
 */
export function parseAllowList(entries: readonly string[]): AllowList {
  const hosts = new Set<string>();
  const addresses = new BlockList();
  for (const entry of entries) {
    const value = normalizeHost(entry);
    if (value === '') continue;
    const bad = (why: string) =>
      new Error(`Invalid CUSTODY_ALLOW_PRIVATE_ENDPOINTS entry "${entry.trim()}": ${why}`);
    if (value.includes('/')) {
      const [net = '', prefixText = '', ...more] = value.split('/');
      const a = classify(net);
      if (a === undefined || more.length > 0) throw bad('expected a CIDR such as 10.0.0.0/8 or fd00::/8');
      const max = a.family === 'ipv4' ? 32 : 128;
      if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
        throw bad(`the prefix length must be 0-${max}`);
      }
      addresses.addSubnet(a.address, Number(prefixText), a.family);
      continue;
    }
    const a = classify(value);
    if (a !== undefined) {
      addresses.addAddress(a.embeddedV4 ?? a.address, a.embeddedV4 !== undefined ? 'ipv4' : a.family);
      if (a.embeddedV4 !== undefined) addresses.addAddress(a.address, 'ipv6');
      continue;
    }
    if (!HOST_NAME.test(value)) throw bad('expected a host name, an IP address or a CIDR');
    hosts.add(value);
  }
  return { hosts, addresses };
}

async function defaultResolve(host: string): Promise<string[]> {
  const results = await dns.lookup(host, { all: true, verbatim: true });
  return results.map((r) => r.address);
}

/** The operator allows this host explicitly: by name, or (an IP literal) by address or CIDR. */
export function isHostAllowed(rawHost: string, allow: AllowList): boolean {
  const host = normalizeHost(rawHost);
  const literal = classify(host);
  return literal === undefined ? allow.hosts.has(host) : isCovered(literal, allow);
}

/** 400 `ENDPOINT_NOT_ALLOWED` naming `field` (never the URL). */
export function refuse(field: string, what: string, cause?: unknown): AppError {
  return new AppError(400, CODE, `\`${field}\` ${what}`, {
    ...(cause === undefined ? {} : { cause }),
    extra: { field },
  });
}

/**
 * Checks a tenant-supplied URL and returns it parsed, or throws 400 `ENDPOINT_NOT_ALLOWED`
 * (detail names `field`; never echoes the URL, which may carry credentials).
 * - only `https:`; `http:` only when the host is explicitly allowed (by name, or every
 *   address it resolves to is covered by an allowed IP/CIDR);
 * - no `user:password@`;
 * - host names `localhost`, `*.localhost`, `metadata.google.internal` are refused, and any
 *   host resolving to ANY blocked address is refused, unless the host name is allowed or
 *   that address is covered by the allow list.
 */
export async function assertEndpointAllowed(
  url: string,
  field: string,
  opts: EndpointGuardOptions,
): Promise<URL> {
  const allow = parseAllowList(opts.allow);
  if (typeof url !== 'string') throw refuse(field, 'must be a URL string.');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw refuse(field, 'is not a valid absolute URL.');
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw refuse(field, 'must not contain credentials (user:password@); pass them separately.');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw refuse(field, 'must be an https:// URL.');
  }
  const host = normalizeHost(parsed.hostname);
  if (host === '') throw refuse(field, 'has no host.');
  const literal = classify(host);
  const hostAllowed = literal === undefined ? allow.hosts.has(host) : isCovered(literal, allow);

  if (literal === undefined && !hostAllowed && isBlockedName(host)) {
    throw refuse(field, `host ${host} is a local or metadata name, which is not allowed.`);
  }

  let resolved: string[];
  if (literal !== undefined) {
    resolved = [literal.address];
  } else {
    try {
      resolved = await (opts.resolve ?? defaultResolve)(host);
    } catch (err) {
      throw refuse(field, `host ${host} does not resolve.`, err);
    }
    if (resolved.length === 0) throw refuse(field, `host ${host} does not resolve.`);
  }

  let everyAddressCovered = true;
  for (const raw of resolved) {
    const a = classify(raw);
    if (a === undefined) {
      // A resolver that returns something that is not an address: fail closed.
      throw refuse(field, `host ${host} does not resolve to a valid address.`);
    }
    const covered = isCovered(a, allow);
    everyAddressCovered &&= covered;
    if (!hostAllowed && !covered && isAddressBlocked(a.address)) {
      // Do not echo the address: it may reveal internal DNS to the tenant.
      throw refuse(
        field,
        `host ${host} ${literal === undefined ? 'resolves to' : 'is'} a loopback, link-local, metadata, private or reserved address, ` +
          'which is not allowed unless the operator allows it.',
      );
    }
  }

  if (parsed.protocol === 'http:' && !hostAllowed && !everyAddressCovered) {
    throw refuse(field, 'must be an https:// URL (http is accepted only for hosts the operator allows).');
  }
  return parsed;
}
