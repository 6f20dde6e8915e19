import { KeyProviderError } from '../errors.js';
import type { KeyHealth, KeyProvider } from './key-provider.js';

const DISABLED_CODES = new Set([
  'DisabledException',
  'KeyDisabled',
  // KMS: a state that allows no cryptography (pending import, custom key store gone, ...).
  'KMSInvalidStateException',
  'KeyUnavailableException',
  'KeyNotYetValid',
  'KeyOperationNotPermitted',
  'KeyOperationForbidden',
]);

/**
 * What a failed key call says about the key's health. Only errors the tenant must fix
 * (`KeyProviderError` of kind `tenant`) make the key unhealthy; anything else (throttling,
 * 5xx, network, a timeout) is `unreachable`: we could not tell, so we do not pause.
 */
export function healthOfError(err: unknown): KeyHealth {
  if (!(err instanceof KeyProviderError)) {
    const code = err instanceof Error && err.name !== 'Error' ? err.name : 'KeyHealthCheckFailed';
    return { state: 'unreachable', code };
  }
  const { code } = err;
  if (err.kind !== 'tenant') return { state: 'unreachable', code };
  if (/notfound/i.test(code) || statusOf(err.cause) === 404) return { state: 'not-found', code };
  if (code === 'KeyExpired') return { state: 'expired', code };
  if (DISABLED_CODES.has(code)) return { state: 'disabled', code };
  // AccessDeniedException, ForbiddenByRbac, Unauthorized, a refused AssumeRole, ...: permission lost.
  return { state: 'access-denied', code };
}

function statusOf(cause: unknown): number | undefined {
  const status = (cause as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * A provider's health: `health()` where it has one, else what `check()` says, else `ok`
 * (a provider with nothing to ask, like `local`). Bounded by `timeoutMs`: a hung key
 * service is `unreachable`, and the periodic check moves on to the next tenant.
 */
export async function keyHealthOf(provider: KeyProvider, timeoutMs: number): Promise<KeyHealth> {
  const ask = async (): Promise<KeyHealth> => {
    if (provider.health) return provider.health();
    if (provider.check) await provider.check();
    return { state: 'ok' };
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<KeyHealth>((resolve) => {
    timer = setTimeout(() => resolve({ state: 'unreachable', code: 'KeyHealthCheckTimeout' }), timeoutMs);
  });
  try {
    return await Promise.race([ask().catch(healthOfError), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
