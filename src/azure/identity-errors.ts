/**
 * What a failed @azure/identity token request means. What 4.14 raises:
 * `AuthenticationRequiredError` whose `cause` is MSAL's `ServerError` (`errorCode` e.g.
 * `invalid_client`, `errorNo` the AADSTS number, `status`) from client secret/certificate
 * credentials; `AuthenticationError` (with `errorResponse`) from EnvironmentCredential;
 * `CredentialUnavailableError` when no credential is configured or the tenant's
 * endpoints cannot be resolved (unknown tenant). Matched by name, not `instanceof`, so a
 * second copy of the package still matches. Only codes are read, never descriptions.
 */
export interface TokenFailure {
  /** `AADSTS7000215`, `endpoints_resolution_error`, `invalid_client`, ... */
  code: string;
  /** Entra was throttled or down: retry. Otherwise only the tenant can fix it. */
  transient: boolean;
  /** One clause on what the code means, when known. */
  what: string | undefined;
  /** The OAuth error with the AADSTS number, e.g. `invalid_client (AADSTS7000215)`. */
  detail: string;
}

const CREDENTIAL_ERRORS = new Set([
  'AuthenticationError',
  'AggregateAuthenticationError',
  'CredentialUnavailableError',
  'AuthenticationRequiredError',
]);

/** What the AADSTS errors a misconfigured credential produces mean. */
const AADSTS: Record<string, string> = {
  AADSTS7000215: 'the client secret is wrong',
  AADSTS7000222: 'the client secret has expired',
  AADSTS700016: 'the application (client id) was not found in the tenant',
  AADSTS700027:
    'the certificate is not registered for the application, or the assertion signature is invalid',
  AADSTS90002: 'the tenant was not found',
  AADSTS700024: 'the client assertion is outside its validity period (clock skew?)',
};

// OAuth errors Entra sends when it is the problem, and MSAL's code for an unreachable Entra.
const TRANSIENT_OAUTH = new Set(['temporarily_unavailable', 'server_error', 'network_error']);
const OAUTH_CODE = /^[a-z_]+$/;

/** `invalid_client` of "invalid_client: Error(s): 7000215 - ...". */
function oauthCode(text: string): string | undefined {
  return /^\s*([a-z_]+):/.exec(text)?.[1];
}

function safe(code: string): string {
  return /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? code : 'authentication_failed';
}

export function isCredentialError(err: unknown): err is Error {
  return err instanceof Error && CREDENTIAL_ERRORS.has(err.name);
}

/** The failure of a token request, or `undefined` when `err` is not an identity error. */
export function tokenFailureOf(err: unknown): TokenFailure | undefined {
  if (!isCredentialError(err)) return undefined;
  if (err.name === 'CredentialUnavailableError' || err.name === 'AggregateAuthenticationError') {
    const resolution = /^endpoints_resolution_error/.test(err.message);
    const code = resolution ? 'endpoints_resolution_error' : err.name;
    return {
      code,
      detail: code,
      transient: false,
      what: resolution
        ? "Entra ID did not answer for the credential's tenant (unknown tenant id or authority host?)"
        : 'no Azure credential is configured',
    };
  }
  const cause = err.cause as { errorCode?: string; errorNo?: unknown; status?: number } | undefined;
  const response = (err as { errorResponse?: { error?: string; errorDescription?: string } }).errorResponse;
  // EnvironmentCredential puts a sentence in `error` and the inner "invalid_client: ..." in the description.
  const description = response?.errorDescription ?? '';
  const oauth =
    cause?.errorCode ??
    oauthCode(description) ??
    (response?.error && OAUTH_CODE.test(response.error) ? response.error : undefined) ??
    oauthCode(err.message) ??
    'authentication_failed';
  const number = cause?.errorNo ?? /AADSTS(\d+)/.exec(`${description} ${err.message}`)?.[1];
  const aadsts = number === undefined || number === '' ? undefined : `AADSTS${String(number)}`;
  const status = cause?.status ?? (err as { statusCode?: number }).statusCode;
  // EnvironmentCredential reports every failure as a 400, so its status says nothing.
  const transient =
    TRANSIENT_OAUTH.has(oauth) ||
    (status !== undefined && (status >= 500 || status === 429) && err.name === 'AuthenticationRequiredError');
  return {
    code: safe(aadsts ?? oauth),
    detail: aadsts ? `${safe(oauth)} (${aadsts})` : safe(oauth),
    transient,
    what: aadsts ? AADSTS[aadsts] : undefined,
  };
}
