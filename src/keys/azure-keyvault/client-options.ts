import type { CryptographyClientOptions, KeyClientOptions } from '@azure/keyvault-keys';

/**
 * Options for the Key Vault clients. Besides the SDK's own (`disableChallengeResourceVerification`
 * for sovereign clouds and stand-ins, `agent` for a custom Node http(s) agent — the
 * `PipelineOptions.agent` of @azure/core-rest-pipeline 1.24 — `retryOptions`, ...).
 */
export type AzureKeyVaultClientOptions = CryptographyClientOptions & KeyClientOptions;

// @azure/core-rest-pipeline's PipelinePolicy, taken from the SDK's own option type (the
// pipeline package is not a direct dependency).
type PipelinePolicy = NonNullable<KeyClientOptions['additionalPolicies']>[number]['policy'];

/**
 * The SDK retries 5xx/408 with exponential back-off and 429/503 after `Retry-After`, which
 * it honours however long it is. Its retry policy stays; it is only bounded here: few
 * retries, and no single wait longer than `maxRetryDelayInMs` (a job that is throttled
 * for longer fails `transient` and is retried by the queue instead of holding a worker).
 */
export const DEFAULT_RETRY = { maxRetries: 3, retryDelayInMs: 800, maxRetryDelayInMs: 8_000 } as const;

const RETRY_AFTER_HEADERS = ['retry-after-ms', 'x-ms-retry-after-ms', 'retry-after'] as const;

/** Caps the wait a throttling reply asks for (the SDK reads `retry-after-ms` first). */
export function retryAfterCapPolicy(maxMs: number): PipelinePolicy {
  return {
    name: 'custodyRetryAfterCap',
    async sendRequest(request, next) {
      const response = await next(request);
      if (response.status !== 429 && response.status !== 503) return response;
      for (const header of RETRY_AFTER_HEADERS) {
        const value = response.headers.get(header);
        if (value === undefined) continue;
        const asNumber = Number(value);
        const ms =
          header === 'retry-after'
            ? Number.isFinite(asNumber)
              ? asNumber * 1000
              : Date.parse(value) - Date.now()
            : asNumber;
        if (Number.isFinite(ms) && ms > maxMs) response.headers.set('retry-after-ms', String(maxMs));
        break;
      }
      return response;
    },
  };
}

/** The caller's options with the bounded retry defaults and the Retry-After cap added. */
export function boundedClientOptions(options: AzureKeyVaultClientOptions = {}): AzureKeyVaultClientOptions {
  const retryOptions = { ...DEFAULT_RETRY, ...options.retryOptions };
  return {
    ...options,
    retryOptions,
    additionalPolicies: [
      ...(options.additionalPolicies ?? []),
      // perRetry: below the retry policy, so it sees each reply before the retry policy does.
      { policy: retryAfterCapPolicy(retryOptions.maxRetryDelayInMs), position: 'perRetry' },
    ],
  };
}
