/**
 * Webhook signing (see docs/webhooks.md). Every delivery carries
 *   Custody-Webhook-Id: <endpoint id>
 *   Custody-Event-Id:   <tenant>:<seq>
 *   Custody-Timestamp:  <unix seconds>
 *   Custody-Signature:  v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 * The key is the secret string exactly as shown at creation (`whsec_…`, UTF-8). Signing
 * the timestamp with the body lets a receiver refuse replays of an old, captured request.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const HEADER = {
  webhookId: 'custody-webhook-id',
  eventId: 'custody-event-id',
  timestamp: 'custody-timestamp',
  signature: 'custody-signature',
} as const;

/** How far a timestamp may be from the receiver's clock, either way. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** Hex HMAC-SHA256 over `<timestamp>.<body>`. */
export function computeSignature(secret: string, timestamp: number, body: string | Buffer): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8'))
    .update(`${timestamp}.`, 'utf8')
    .update(body)
    .digest('hex');
}

/** The value of `Custody-Signature` (a list, so a future key rotation can send two). */
export const signatureHeader = (secret: string, timestamp: number, body: string | Buffer) =>
  `v1=${computeSignature(secret, timestamp, body)}`;

/** Node's `req.headers`, a fetch `Headers`, or a plain object with any key case. */
export type HeaderSource =
  | { get(name: string): string | null }
  | Record<string, string | string[] | undefined>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof headers.get === 'function')
    return (headers as { get(n: string): string | null }).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value[0] : value;
}

export type VerifyResult =
  | { valid: true; timestamp: number }
  | { valid: false; reason: 'missing-header' | 'stale-timestamp' | 'bad-signature' };

/**
 * What a receiver does with a delivery: recompute the HMAC over the RAW body bytes (not
 * re-serialised JSON), compare in constant time, and refuse a timestamp more than
 * `toleranceSeconds` from `now` (ms since the epoch, default the current time).
 */
export function verifyWebhookSignature(
  secret: string,
  headers: HeaderSource,
  body: string | Buffer,
  now: number = Date.now(),
  toleranceSeconds = DEFAULT_TOLERANCE_SECONDS,
): VerifyResult {
  const ts = header(headers, HEADER.timestamp);
  const sig = header(headers, HEADER.signature);
  if (ts === undefined || sig === undefined || !/^\d{1,12}$/.test(ts)) {
    return { valid: false, reason: 'missing-header' };
  }
  const timestamp = Number(ts);
  if (Math.abs(now / 1000 - timestamp) > toleranceSeconds) return { valid: false, reason: 'stale-timestamp' };
  const expected = Buffer.from(computeSignature(secret, timestamp, body), 'hex');
  for (const part of sig.split(',')) {
    const [scheme, value = ''] = part.trim().split('=', 2);
    if (scheme !== 'v1' || !/^[0-9a-f]{64}$/i.test(value)) continue;
    if (timingSafeEqual(expected, Buffer.from(value, 'hex'))) return { valid: true, timestamp };
  }
  return { valid: false, reason: 'bad-signature' };
}
