import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ClientAuthMethod,
  EntraFault,
  EntraState,
  entraErrorBody,
  type StandInApp,
} from './entra-state.js';
import {
  type CreateKeyOptions,
  type KvCaller,
  KeyVaultState,
  KvFault,
  type KvOperation,
  type KvPermission,
  kvErrorBody,
} from './keyvault-state.js';

/**
 * Microsoft Entra ID and one Azure Key Vault on one real HTTPS server on 127.0.0.1 (the
 * test CA's certificate, trusted through NODE_EXTRA_CA_CERTS), for tests, spawned
 * processes and the CLI alike. The real SDKs talk to it unchanged given
 * `authorityHost` + `disableInstanceDiscovery: true` (credentials) and
 * `disableChallengeResourceVerification: true` (Key Vault clients): see `env()`.
 *
 * State is real: app registrations with secrets or certificates (client assertions are
 * verified), signed access tokens, Key Vault challenge auth, versioned keys with real
 * RSA-OAEP / AES key wrap, per-key RBAC, disabled/expired keys. Errors have Azure's wire
 * shapes, so the SDKs raise what they raise against Azure.
 */
export type AzureOperation = 'token' | KvOperation;
export const AZURE_OPERATIONS: readonly AzureOperation[] = ['token', 'getKey', 'wrapKey', 'unwrapKey'];

export const KEY_VAULT_RESOURCE = 'https://vault.azure.net';

export interface TokenCall {
  operation: 'token';
  tenantId: string;
  clientId: string;
  scope: string;
  method: ClientAuthMethod | undefined;
  status: number;
  /** OAuth `error` of a refused request. */
  error?: string;
}

export interface KeyVaultCall {
  operation: KvOperation;
  keyName: string;
  /** As requested; `''` for the current version. */
  version: string;
  alg: string | undefined;
  clientId: string;
  status: number;
  /** `error.code` (and inner code after a slash) of a refused request. */
  error?: string;
}

export type AzureCall = TokenCall | KeyVaultCall;

export interface AzureStandInEnv {
  AZURE_AUTHORITY_HOST: string;
  CUSTODY_AZURE_DISABLE_INSTANCE_DISCOVERY: 'true';
  CUSTODY_KEYVAULT_DISABLE_CHALLENGE_VERIFICATION: 'true';
}

export interface AzureStandInOptions {
  /** The Entra tenant the vault belongs to (its challenge names it); default a random GUID. */
  vaultTenantId?: string;
  /** Clock for tokens and key validity; default `Date.now`. */
  now?: () => number;
}

export interface FailNextOptions {
  /** Sent as `Retry-After` (seconds), as Key Vault does when throttling. */
  retryAfterSeconds?: number;
  /** How many calls fail; default 1. */
  count?: number;
  /** AADSTS number of an injected token error; default 50000 ("error issuing a token"). */
  aadsts?: number;
}

interface Fault {
  status: number;
  code: string;
  options: FailNextOptions;
}

interface Route {
  operation: KvOperation;
  name: string;
  version: string;
}

const TLS_DIR = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

class Unauthorized extends Error {}

export class AzureStandIn {
  readonly counts = Object.fromEntries(AZURE_OPERATIONS.map((op) => [op, 0])) as Record<
    AzureOperation,
    number
  >;
  readonly calls: AzureCall[] = [];
  /** Key Vault requests answered with the 401 challenge (no or unusable bearer token). */
  challenges = 0;
  readonly entra: EntraState;
  readonly vaultTenantId: string;
  #vault: KeyVaultState | undefined;
  readonly #faults = new Map<AzureOperation, Fault[]>();
  readonly #now: () => number;
  readonly #server = createServer(
    {
      cert: readFileSync(path.join(TLS_DIR, 'server.pem')),
      key: readFileSync(path.join(TLS_DIR, 'server.key')),
    },
    (req, res) => {
      this.#serve(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      });
    },
  );
  #origin = '';

  constructor(options: AzureStandInOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.entra = new EntraState(this.#now);
    this.vaultTenantId = options.vaultTenantId ?? randomUUID();
    this.entra.addTenant(this.vaultTenantId);
  }

  /** Listens on 127.0.0.1, random port. Use `startAzureStandIn()`. */
  async listen(): Promise<this> {
    await this.entra.init();
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolve());
    });
    this.#origin = `https://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    this.#vault = new KeyVaultState(this.#origin, this.vaultTenantId, this.#now);
    return this;
  }

  /** Entra ID's authority host (credentials' `authorityHost`, `AZURE_AUTHORITY_HOST`). */
  get authorityHost(): string {
    return this.#origin;
  }

  /** The vault's URL (`https://127.0.0.1:PORT`); key ids are `<vaultUrl>/keys/<name>/<version>`. */
  get vaultUrl(): string {
    return this.#origin;
  }

  get vault(): KeyVaultState {
    if (!this.#vault) throw new Error('AzureStandIn is not listening');
    return this.#vault;
  }

  env(): AzureStandInEnv {
    return {
      AZURE_AUTHORITY_HOST: this.authorityHost,
      CUSTODY_AZURE_DISABLE_INSTANCE_DISCOVERY: 'true',
      CUSTODY_KEYVAULT_DISABLE_CHALLENGE_VERIFICATION: 'true',
    };
  }

  /** What `@azure/identity` credentials need to use this Entra ID. */
  credentialOptions(): { authorityHost: string; disableInstanceDiscovery: true } {
    return { authorityHost: this.authorityHost, disableInstanceDiscovery: true };
  }

  async stop(): Promise<void> {
    // SDK clients keep connections alive; close them or `close()` waits for their timeout.
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  // --- Entra ID --------------------------------------------------------------------------

  addApp(app: StandInApp): void {
    this.entra.addApp(app);
  }

  /** Every access token issued so far is now expired. */
  expireTokens(): void {
    this.entra.expireTokens();
  }

  /** Token requests that reached the token endpoint, optionally for one app and/or scope. */
  tokenRequests(clientId?: string, scope?: string): number {
    return this.callsOf('token').filter(
      (c) =>
        (clientId === undefined || c.clientId === clientId) && (scope === undefined || c.scope === scope),
    ).length;
  }

  // --- Key Vault -------------------------------------------------------------------------

  /** A new key (or a new version of one), returning its versioned kid. */
  createKey(name: string, options: CreateKeyOptions = {}): string {
    return this.vault.createKey(name, options);
  }

  rotateKey(name: string): string {
    return this.vault.rotateKey(name);
  }

  disableKey(name: string, version?: string): void {
    this.vault.disableKey(name, version);
  }

  enableKey(name: string, version?: string): void {
    this.vault.enableKey(name, version);
  }

  expireKey(name: string, version?: string): void {
    this.vault.expireKey(name, version);
  }

  deleteKey(name: string): void {
    this.vault.deleteKey(name);
  }

  grant(keyName: string, clientId: string, permissions: KvPermission[]): void {
    this.vault.grant(keyName, clientId, permissions);
  }

  revoke(keyName: string, clientId: string, permissions?: KvPermission[]): void {
    this.vault.revoke(keyName, clientId, permissions);
  }

  // --- faults and counters ---------------------------------------------------------------

  /**
   * The next `count` calls of `operation` fail with `status` and error `code` (after
   * being counted): e.g. `(wrapKey, 429, 'Throttled', { retryAfterSeconds: 1 })`.
   */
  failNext(operation: AzureOperation, status: number, code: string, options: FailNextOptions = {}): void {
    const queue = this.#faults.get(operation) ?? [];
    for (let i = 0; i < (options.count ?? 1); i++) queue.push({ status, code, options });
    this.#faults.set(operation, queue);
  }

  /** Drops injected faults not yet used. */
  clearFaults(): void {
    this.#faults.clear();
  }

  callsOf(operation: 'token'): TokenCall[];
  callsOf(operation: KvOperation): KeyVaultCall[];
  callsOf(operation: AzureOperation): AzureCall[] {
    return this.calls.filter((c) => c.operation === operation);
  }

  resetCounts(): void {
    this.calls.length = 0;
    this.challenges = 0;
    for (const op of AZURE_OPERATIONS) this.counts[op] = 0;
  }

  // --- transport -------------------------------------------------------------------------

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', this.#origin);
    const segments = url.pathname.split('/').slice(1);
    if (segments[0] === 'keys') return this.#keyVault(req, res, segments, body);
    const [tenant, ...rest] = segments;
    const tail = rest.join('/');
    if (tenant && req.method === 'GET' && tail === 'v2.0/.well-known/openid-configuration') {
      return this.#entraReply(req, res, () => this.entra.openidConfiguration(tenant, this.authorityHost));
    }
    if (tenant && req.method === 'GET' && tail === 'discovery/v2.0/keys') {
      return send(res, 200, this.entra.jwks());
    }
    if (tenant && req.method === 'POST' && tail === 'oauth2/v2.0/token') {
      return this.#token(req, res, tenant, new URLSearchParams(body));
    }
    send(res, 404, {
      error: 'not_found',
      error_description: `stand-in has no ${req.method} ${url.pathname}`,
    });
  }

  async #entraReply(req: IncomingMessage, res: ServerResponse, reply: () => unknown): Promise<void> {
    try {
      send(res, 200, await reply());
    } catch (err) {
      if (!(err instanceof EntraFault)) throw err;
      send(res, err.status, this.#entraError(req, err));
    }
  }

  #entraError(req: IncomingMessage, fault: EntraFault): Record<string, unknown> {
    const correlation = req.headers['client-request-id'];
    return entraErrorBody(
      fault,
      this.authorityHost,
      typeof correlation === 'string' ? correlation : undefined,
      this.#now(),
    );
  }

  async #token(
    req: IncomingMessage,
    res: ServerResponse,
    tenant: string,
    form: URLSearchParams,
  ): Promise<void> {
    this.counts.token++;
    const call: TokenCall = {
      operation: 'token',
      tenantId: tenant,
      clientId: form.get('client_id') ?? '',
      scope: form.get('scope') ?? '',
      method: undefined,
      status: 200,
    };
    this.calls.push(call);
    const fault = this.#faults.get('token')?.shift();
    try {
      if (fault) {
        throw new EntraFault(
          fault.status,
          fault.code,
          fault.options.aadsts ?? 50000,
          'injected by failNext.',
        );
      }
      const tokenEndpoint = `${this.authorityHost}/${tenant}/oauth2/v2.0/token`;
      const grant = await this.entra.token(tenant, form, tokenEndpoint);
      call.method = grant.method;
      send(res, 200, {
        token_type: 'Bearer',
        expires_in: grant.expiresIn,
        ext_expires_in: grant.expiresIn,
        access_token: grant.accessToken,
      });
    } catch (err) {
      if (!(err instanceof EntraFault)) throw err;
      call.status = err.status;
      call.error = err.error;
      send(res, err.status, this.#entraError(req, err), retryAfter(fault));
    }
  }

  async #keyVault(
    req: IncomingMessage,
    res: ServerResponse,
    segments: string[],
    body: string,
  ): Promise<void> {
    const route = parseRoute(req.method ?? 'GET', segments);
    if (!route) {
      return send(res, 400, kvErrorBody(new KvFault(400, 'BadParameter', 'Unsupported Key Vault request.')));
    }
    let caller: KvCaller;
    try {
      caller = await this.#authenticate(req);
    } catch (err) {
      if (!(err instanceof Unauthorized)) throw err;
      this.challenges++;
      const challenge = `Bearer authorization="${this.authorityHost}/${this.vaultTenantId}", resource="${KEY_VAULT_RESOURCE}"`;
      return send(res, 401, kvErrorBody(new KvFault(401, 'Unauthorized', err.message)), {
        'www-authenticate': challenge,
      });
    }
    this.counts[route.operation]++;
    const parsed = parseJson(body);
    const call: KeyVaultCall = {
      operation: route.operation,
      keyName: route.name,
      version: route.version,
      alg: typeof parsed?.alg === 'string' ? parsed.alg : undefined,
      clientId: caller.appid,
      status: 200,
    };
    this.calls.push(call);
    try {
      const fault = this.#faults.get(route.operation)?.shift();
      if (fault)
        throw new KvFault(fault.status, fault.code, 'injected by failNext', undefined, retryAfter(fault));
      const reply =
        route.operation === 'getKey'
          ? this.vault.getKey(caller, route.name, route.version)
          : this.vault.keyOperation(caller, route.operation, route.name, route.version, parsed);
      send(res, 200, reply);
    } catch (err) {
      if (!(err instanceof KvFault)) throw err;
      call.status = err.status;
      call.error = err.innerCode ? `${err.code}/${err.innerCode}` : err.code;
      send(res, err.status, kvErrorBody(err), err.headers);
    }
  }

  /** The bearer token must be one Entra issued, unexpired, for Key Vault, from the vault's tenant. */
  async #authenticate(req: IncomingMessage): Promise<KvCaller> {
    const auth = req.headers.authorization;
    const token = typeof auth === 'string' ? /^Bearer\s+(\S+)$/i.exec(auth)?.[1] : undefined;
    if (!token) throw new Unauthorized('AKV10000: Request is missing a Bearer or PoP token.');
    const result = await this.entra.verifyAccessToken(token, KEY_VAULT_RESOURCE);
    if ('problem' in result) {
      const code = { invalid: 'AKV10031', audience: 'AKV10022', expired: 'AKV10013' }[result.problem];
      throw new Unauthorized(`${code}: ${result.detail}`);
    }
    const { claims } = result;
    if (claims.tid.toLowerCase() !== this.vaultTenantId.toLowerCase()) {
      throw new Unauthorized(
        `AKV10032: Invalid issuer. Expected one of https://sts.windows.net/${this.vaultTenantId}/, found ${claims.iss}.`,
      );
    }
    return { appid: claims.appid, oid: claims.oid, tid: claims.tid };
  }
}

/**
 * `GET /keys/{name}[/{version}]`, `POST /keys/{name}[/{version}]/wrapkey|unwrapkey`.
 * The SDK writes an empty version as `/keys/{name}/` and `/keys/{name}//wrapkey`.
 */
function parseRoute(method: string, segments: string[]): Route | undefined {
  const [, name, ...rest] = segments.map((s) => decodeURIComponent(s));
  if (!name) return undefined;
  if (method === 'GET' && rest.length <= 1) return { operation: 'getKey', name, version: rest[0] ?? '' };
  const action = rest.at(-1)?.toLowerCase();
  if (method !== 'POST' || rest.length < 1 || rest.length > 2) return undefined;
  const version = rest.length === 2 ? (rest[0] ?? '') : '';
  if (action === 'wrapkey') return { operation: 'wrapKey', name, version };
  if (action === 'unwrapkey') return { operation: 'unwrapKey', name, version };
  return undefined;
}

function parseJson(body: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function retryAfter(fault: Fault | undefined): Record<string, string> {
  const seconds = fault?.options.retryAfterSeconds;
  return seconds === undefined ? {} : { 'retry-after': String(seconds) };
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { ...JSON_HEADERS, 'x-ms-request-id': randomUUID(), ...headers });
  res.end(JSON.stringify(body));
}

/** Starts the stand-in; `await standIn.stop()` when done. */
export async function startAzureStandIn(options: AzureStandInOptions = {}): Promise<AzureStandIn> {
  return new AzureStandIn(options).listen();
}
