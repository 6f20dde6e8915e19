import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import {
  compactVerify,
  type CryptoKey,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importX509,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose';

/**
 * The fake Microsoft Entra ID, with no transport: tenants, app registrations (client
 * secret and/or certificate), the client-credentials grant and the access tokens it
 * issues. Tokens are real RS256 JWTs signed by a key of this stand-in, so Key Vault can
 * check that a bearer token is one Entra issued, and Azurite (`--oauth basic`, which only
 * reads `aud`/`iss`/times) accepts the storage ones.
 */

export interface StandInApp {
  entraTenantId: string;
  clientId: string;
  clientSecret?: string;
  /** PEM certificate (a file holding key + certificate works too: only the certificate is read). */
  certificatePem?: string;
  /** The service principal's object id (`oid`); random by default. */
  objectId?: string;
}

/** The claims of an access token the stand-in issued (v1 tokens, as Key Vault and Storage get). */
export interface AccessTokenClaims extends JWTPayload {
  aud: string;
  iss: string;
  tid: string;
  appid: string;
  azp: string;
  oid: string;
  sub: string;
  appidacr: '1' | '2';
  nbf: number;
  iat: number;
  exp: number;
}

export type ClientAuthMethod = 'secret' | 'certificate';

export interface TokenGrant {
  clientId: string;
  tenantId: string;
  /** The resource the token is for (the scope minus `/.default`). */
  resource: string;
  method: ClientAuthMethod;
  accessToken: string;
  expiresIn: number;
}

/** An error Entra ID returns: HTTP status, OAuth `error`, and the AADSTS number. */
export class EntraFault extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly aadsts: number,
    message: string,
  ) {
    super(message);
  }
}

/** Resources a stand-in tenant has service principals for (others fail with AADSTS500011). */
export const KNOWN_RESOURCES = [
  'https://vault.azure.net',
  'https://storage.azure.com',
  'https://management.azure.com',
  'https://graph.microsoft.com',
];

const TOKEN_LIFETIME_SECONDS = 3600;
// Entra tolerates some clock skew on client assertions; real Entra allows minutes.
const ASSERTION_SKEW_SECONDS = 300;
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
// OIDC scopes MSAL may add to any request; they name no resource.
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);

interface App extends StandInApp {
  objectId: string;
  certificate?: { sha1: string; sha256: string; pem: string };
}

const b64url = (buf: Buffer) => buf.toString('base64url');

/** `Timestamp: 2024-05-01 10:00:00Z`, as Entra writes it. */
function entraTimestamp(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

/**
 * The JSON body Entra sends with an error: `error`, `error_description` (AADSTS code,
 * text, then trace/correlation ids and timestamp), `error_codes`, ids and `error_uri`.
 */
export function entraErrorBody(
  fault: EntraFault,
  authorityHost: string,
  correlationId: string = randomUUID(),
  now: number = Date.now(),
): Record<string, unknown> {
  const traceId = randomUUID();
  const timestamp = entraTimestamp(now);
  return {
    error: fault.error,
    error_description: `AADSTS${fault.aadsts}: ${fault.message} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
    error_codes: [fault.aadsts],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `${authorityHost}/error?code=${fault.aadsts}`,
  };
}

export class EntraState {
  readonly #tenants = new Set<string>();
  readonly #apps = new Map<string, App>();
  #signingKey: CryptoKey | undefined;
  #verifyKey: CryptoKey | undefined;
  #publicJwk: JWK | undefined;
  readonly #kid = b64url(createHash('sha256').update(randomUUID()).digest()).slice(0, 27);
  /** Tokens issued before this instant (seconds) count as expired: see `expireTokens`. */
  #notBefore = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Makes the token signing key; call once before issuing tokens. */
  async init(): Promise<void> {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
    this.#signingKey = privateKey;
    this.#verifyKey = publicKey;
    this.#publicJwk = { ...(await exportJWK(publicKey)), kid: this.#kid, use: 'sig', alg: 'RS256' };
  }

  addTenant(tenantId: string): void {
    this.#tenants.add(tenantId.toLowerCase());
  }

  hasTenant(tenantId: string): boolean {
    return this.#tenants.has(tenantId.toLowerCase());
  }

  /** Registers (or replaces) an app in a tenant; its tenant is created as needed. */
  addApp(app: StandInApp): void {
    if (!app.clientSecret && !app.certificatePem) {
      throw new Error(`app ${app.clientId} needs a clientSecret or a certificatePem`);
    }
    this.addTenant(app.entraTenantId);
    const entry: App = { ...app, objectId: app.objectId ?? randomUUID() };
    if (app.certificatePem) {
      const cert = new X509Certificate(app.certificatePem);
      entry.certificate = {
        sha1: b64url(createHash('sha1').update(cert.raw).digest()),
        sha256: b64url(createHash('sha256').update(cert.raw).digest()),
        pem: cert.toString(),
      };
    }
    this.#apps.set(this.#appKey(app.entraTenantId, app.clientId), entry);
  }

  removeApp(entraTenantId: string, clientId: string): void {
    this.#apps.delete(this.#appKey(entraTenantId, clientId));
  }

  objectIdOf(entraTenantId: string, clientId: string): string | undefined {
    return this.#apps.get(this.#appKey(entraTenantId, clientId))?.objectId;
  }

  /** Every token issued so far is now expired (resource servers reject it). */
  expireTokens(): void {
    this.#notBefore = Math.ceil(this.now() / 1000) + 1;
  }

  /** The tenant's v2.0 OpenID configuration, as MSAL reads it. */
  openidConfiguration(tenantId: string, authorityHost: string): Record<string, unknown> {
    this.#requireTenant(tenantId, 'invalid_tenant');
    const base = `${authorityHost}/${tenantId}`;
    return {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${base}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${authorityHost}/oidc/userinfo`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid', 'oid', 'azp'],
      tenant_region_scope: 'EU',
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
    };
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.#publicJwk ? [this.#publicJwk] : [] };
  }

  /**
   * The client-credentials grant. Checks in Entra's order: tenant, grant type, client,
   * its credential (secret, or an assertion signed by the registered certificate), scope.
   * `tokenEndpoint` is the URL the assertion's `aud` must name.
   */
  async token(tenantId: string, form: URLSearchParams, tokenEndpoint: string): Promise<TokenGrant> {
    this.#requireTenant(tenantId, 'invalid_request');
    const grantType = form.get('grant_type');
    if (grantType !== 'client_credentials') {
      throw new EntraFault(
        400,
        'unsupported_grant_type',
        70003,
        `The app requested an unsupported grant type '${grantType ?? ''}'.`,
      );
    }
    const clientId = form.get('client_id') ?? '';
    const app = this.#apps.get(this.#appKey(tenantId, clientId));
    if (!app) {
      throw new EntraFault(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );
    }
    const method = await this.#authenticateClient(app, form, tokenEndpoint);
    const resource = this.#resourceOf(form.get('scope') ?? '');
    const accessToken = await this.#issue(app, resource, method);
    return {
      clientId,
      tenantId: app.entraTenantId,
      resource,
      method,
      accessToken,
      expiresIn: TOKEN_LIFETIME_SECONDS,
    };
  }

  /**
   * The claims of a token this stand-in issued, if its signature verifies, it is for
   * `audience` and is within its lifetime; otherwise a reason (AKV-style text).
   */
  async verifyAccessToken(
    token: string,
    audience: string,
  ): Promise<
    { claims: AccessTokenClaims } | { problem: 'invalid' | 'audience' | 'expired'; detail: string }
  > {
    let payload: JWTPayload;
    try {
      if (!this.#verifyKey) throw new Error('EntraState.init() was not called');
      ({ payload } = await jwtVerify(token, this.#verifyKey, {
        algorithms: ['RS256'],
        currentDate: new Date(this.now()),
      }));
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_JWT_EXPIRED') return { problem: 'expired', detail: 'Token expired' };
      return { problem: 'invalid', detail: 'Token signature or format is invalid' };
    }
    const claims = payload as AccessTokenClaims;
    if ((claims.iat ?? 0) < this.#notBefore) return { problem: 'expired', detail: 'Token expired' };
    if (claims.aud !== audience && claims.aud !== `${audience}/`) {
      return { problem: 'audience', detail: `Invalid audience. Expected ${audience}, found: ${claims.aud}.` };
    }
    return { claims };
  }

  #appKey(tenantId: string, clientId: string): string {
    return `${tenantId.toLowerCase()}/${clientId.toLowerCase()}`;
  }

  #requireTenant(tenantId: string, error: string): void {
    if (!this.hasTenant(tenantId)) {
      throw new EntraFault(
        400,
        error,
        90002,
        `Tenant '${tenantId}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
      );
    }
  }

  async #authenticateClient(
    app: App,
    form: URLSearchParams,
    tokenEndpoint: string,
  ): Promise<ClientAuthMethod> {
    const secret = form.get('client_secret');
    const assertion = form.get('client_assertion');
    if (secret !== null) {
      if (!app.clientSecret || secret !== app.clientSecret) {
        throw new EntraFault(
          401,
          'invalid_client',
          7000215,
          `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`,
        );
      }
      return 'secret';
    }
    if (assertion !== null && form.get('client_assertion_type') === ASSERTION_TYPE) {
      await this.#verifyAssertion(app, assertion, tokenEndpoint);
      return 'certificate';
    }
    throw new EntraFault(
      401,
      'invalid_client',
      7000218,
      "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    );
  }

  /** Real checks: the certificate named by `x5t`/`x5t#S256` is registered, signature, aud, iss/sub, times. */
  async #verifyAssertion(app: App, assertion: string, tokenEndpoint: string): Promise<void> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(assertion);
    } catch {
      throw new EntraFault(401, 'invalid_client', 50027, 'JWT token is invalid or is malformed.');
    }
    const thumbprint = (header['x5t#S256'] as string | undefined) ?? header.x5t;
    const cert = app.certificate;
    const matches = cert && (header['x5t#S256'] === cert.sha256 || header.x5t === cert.sha1);
    if (!cert || !matches) {
      throw new EntraFault(
        401,
        'invalid_client',
        700027,
        `Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '${thumbprint ?? ''}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${app.clientId}'.]`,
      );
    }
    const alg = header.alg === 'PS256' ? 'PS256' : 'RS256';
    let payload: JWTPayload;
    try {
      const key = await importX509(cert.pem, alg);
      // Only the signature here: claims are checked below, each with Entra's own error.
      const { payload: bytes } = await compactVerify(assertion, key, { algorithms: [alg] });
      payload = JSON.parse(Buffer.from(bytes).toString('utf8')) as JWTPayload;
    } catch {
      throw new EntraFault(401, 'invalid_client', 700027, 'Client assertion failed signature validation.');
    }
    const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (!audiences.includes(tokenEndpoint)) {
      throw new EntraFault(
        401,
        'invalid_client',
        700023,
        'Client assertion audience claim does not match Realm issuer.',
      );
    }
    if (payload.iss !== app.clientId || payload.sub !== app.clientId) {
      throw new EntraFault(
        401,
        'invalid_client',
        700021,
        "Client assertion application identifier doesn't match 'client_id' parameter.",
      );
    }
    const nowS = this.now() / 1000;
    const exp = payload.exp ?? 0;
    const nbf = payload.nbf ?? 0;
    if (nowS > exp + ASSERTION_SKEW_SECONDS || nowS + ASSERTION_SKEW_SECONDS < nbf) {
      throw new EntraFault(
        401,
        'invalid_client',
        700024,
        'Client assertion is not within its valid time range.',
      );
    }
  }

  /** `https://vault.azure.net/.default` → `https://vault.azure.net`; client credentials need `/.default`. */
  #resourceOf(scopeParam: string): string {
    const scopes = scopeParam.split(' ').filter((s) => s && !OIDC_SCOPES.has(s));
    const [scope] = scopes;
    if (scopes.length !== 1 || !scope?.endsWith('/.default')) {
      throw new EntraFault(
        400,
        'invalid_scope',
        1002012,
        `The provided value for scope ${scopeParam} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      );
    }
    const resource = scope.slice(0, -'/.default'.length);
    if (!KNOWN_RESOURCES.includes(resource.replace(/\/$/, ''))) {
      throw new EntraFault(
        400,
        'invalid_resource',
        500011,
        `The resource principal named ${resource} was not found in the tenant. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
      );
    }
    return resource.replace(/\/$/, '');
  }

  async #issue(app: App, resource: string, method: ClientAuthMethod): Promise<string> {
    if (!this.#signingKey) throw new Error('EntraState.init() was not called');
    const iat = Math.floor(this.now() / 1000);
    const claims: Omit<AccessTokenClaims, 'iat' | 'nbf' | 'exp'> = {
      aud: resource,
      iss: `https://sts.windows.net/${app.entraTenantId}/`,
      tid: app.entraTenantId,
      appid: app.clientId,
      azp: app.clientId,
      oid: app.objectId,
      sub: app.objectId,
      appidacr: method === 'secret' ? '1' : '2',
      idp: `https://sts.windows.net/${app.entraTenantId}/`,
      ver: '1.0',
      uti: b64url(Buffer.from(randomUUID().replace(/-/g, ''), 'hex')),
    };
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: this.#kid, x5t: this.#kid })
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + TOKEN_LIFETIME_SECONDS)
      .sign(this.#signingKey);
  }
}
