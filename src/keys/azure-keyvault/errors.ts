import { tokenFailureOf } from '../../azure/identity-errors.js';
import { KeyProviderError } from '../../errors.js';

/** The Key Vault call that failed (credential failures are reported under the call that needed the token). */
export type KeyVaultStep = 'getKey' | 'wrapKey' | 'unwrapKey';

/** Key Vault error codes (inner code where there is one) and what they mean for the tenant. */
const WHAT: Record<string, string> = {
  KeyDisabled: 'the key is disabled',
  KeyExpired: 'the key has expired',
  KeyNotYetValid: 'the key is not valid yet (its activation date is in the future)',
  ForbiddenByRbac: 'the identity has no role assignment allowing this operation on the key',
  ForbiddenByPolicy: 'the vault access policy does not allow this operation for the identity',
  Forbidden: 'access to the key was refused',
  KeyNotFound: 'the key (or this version of it) does not exist',
  Unauthorized: 'the vault did not accept the access token (wrong tenant?)',
  BadParameter: 'Key Vault refused the request for this key (key type or wrapped key does not fit)',
};

interface RestErrorLike extends Error {
  name: 'RestError';
  statusCode?: number;
  code?: string;
  details?: { error?: { code?: string; innerError?: { code?: string } } };
}

function isRestError(err: unknown): err is RestErrorLike {
  return err instanceof Error && err.name === 'RestError';
}

/**
 * What of a RestError may be kept as `cause` (for logs): the SDK's error carries the whole
 * request, i.e. the bearer token and, for wrapKey, the plaintext data key.
 */
function safeCause(err: RestErrorLike, code: string): Error {
  const cause = new Error(`Key Vault ${err.statusCode ?? 'network'} ${code}: ${err.message}`);
  cause.name = 'RestError';
  return Object.assign(cause, { statusCode: err.statusCode, code });
}

/**
 * Maps a failed Key Vault call (or the credential behind it) to a `KeyProviderError`.
 * Messages name the step, the key and the Azure code only: Key Vault's messages (RBAC
 * denials list caller ids and resource paths) and Entra's descriptions stay in `cause`.
 */
export function translateKeyVaultError(err: unknown, step: KeyVaultStep, keyId: string): KeyProviderError {
  if (err instanceof KeyProviderError) return err;
  const credential = credentialError(err, keyId);
  if (credential) return credential;
  if (isRestError(err)) {
    const status = err.statusCode;
    const code =
      err.details?.error?.innerError?.code ?? err.details?.error?.code ?? err.code ?? `HTTP${status}`;
    if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
      const what = WHAT[code] ?? `HTTP ${status}`;
      return new KeyProviderError(
        'tenant',
        code,
        `Azure Key Vault ${step} with key ${keyId} failed: ${what} (${code})`,
        { cause: safeCause(err, code) },
      );
    }
    // 408/429 (after the SDK's own retries), 5xx, and network errors (no status).
    return new KeyProviderError(
      'transient',
      code,
      `Azure Key Vault ${step} with key ${keyId} failed (${code}); retry later`,
      { cause: safeCause(err, code) },
    );
  }
  const code = err instanceof Error && err.name !== 'Error' ? err.name : 'KeyVaultRequestFailed';
  return new KeyProviderError(
    'transient',
    code,
    `Azure Key Vault ${step} with key ${keyId} failed (${code}); retry later`,
    { cause: err },
  );
}

/** A failed token request behind the Key Vault call (see `tokenFailureOf`). */
function credentialError(err: unknown, keyId: string): KeyProviderError | undefined {
  const failure = tokenFailureOf(err);
  if (!failure) return undefined;
  const { code, transient, what, detail } = failure;
  if (transient) {
    return new KeyProviderError(
      'transient',
      code,
      `Entra ID could not issue a token for Key Vault key ${keyId}: ${detail}; retry later`,
      { cause: err },
    );
  }
  return new KeyProviderError(
    'tenant',
    code,
    `Entra ID refused the credential for Key Vault key ${keyId}${what ? `: ${what}` : ''} — ${detail}`,
    { cause: err },
  );
}
