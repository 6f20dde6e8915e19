/** Retries back off exponentially from the base, so a struggling receiver is not hammered. */
export const MAX_RETRY_DELAY_MS = 3_600_000;

/** Delay after the `attempts`-th failed attempt: base, 2×base, 4×base, … capped at one hour. */
export function retryDelayMs(attempts: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, attempts - 1), MAX_RETRY_DELAY_MS);
}
