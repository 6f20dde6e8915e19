import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../../../src/webhooks/schedule.js';
import {
  computeSignature,
  signatureHeader,
  verifyWebhookSignature,
} from '../../../src/webhooks/signature.js';

const SECRET = 'whsec_dGVzdC1zZWNyZXQtdGVzdC1zZWNyZXQtdGVzdC1zZWNyZXQ';
const BODY = '{"id":"acme:7","type":"recording.stored"}';
const NOW = 1_767_225_600_000;
const TS = NOW / 1000;

const headers = (sig = signatureHeader(SECRET, TS, BODY), ts = String(TS)) => ({
  'custody-timestamp': ts,
  'custody-signature': sig,
});

describe('webhook signatures', () => {
  it('is the hex HMAC-SHA256 of "<timestamp>.<body>" under the secret string', () => {
    const expected = createHmac('sha256', SECRET).update(`${TS}.${BODY}`).digest('hex');
    expect(computeSignature(SECRET, TS, BODY)).toBe(expected);
    expect(signatureHeader(SECRET, TS, Buffer.from(BODY))).toBe(`v1=${expected}`);
  });

  it('accepts a fresh, correct signature from node headers, fetch Headers or any key case', () => {
    expect(verifyWebhookSignature(SECRET, headers(), BODY, NOW)).toEqual({ valid: true, timestamp: TS });
    expect(verifyWebhookSignature(SECRET, new Headers(headers()), Buffer.from(BODY), NOW)).toMatchObject({
      valid: true,
    });
    const mixed = { 'Custody-Timestamp': String(TS), 'Custody-Signature': signatureHeader(SECRET, TS, BODY) };
    expect(verifyWebhookSignature(SECRET, mixed, BODY, NOW)).toMatchObject({ valid: true });
  });

  it('accepts any one matching v1 value of a list (room for rotation)', () => {
    const list = `v1=${'0'.repeat(64)}, ${signatureHeader(SECRET, TS, BODY)}`;
    expect(verifyWebhookSignature(SECRET, headers(list), BODY, NOW)).toMatchObject({ valid: true });
  });

  it('refuses a changed body, another secret, another timestamp or another scheme', () => {
    const bad = { valid: false, reason: 'bad-signature' };
    expect(verifyWebhookSignature(SECRET, headers(), `${BODY} `, NOW)).toEqual(bad);
    expect(verifyWebhookSignature(`${SECRET}x`, headers(), BODY, NOW)).toEqual(bad);
    expect(verifyWebhookSignature(SECRET, headers(undefined, String(TS + 1)), BODY, NOW)).toEqual(bad);
    const v0 = `v0=${computeSignature(SECRET, TS, BODY)}`;
    expect(verifyWebhookSignature(SECRET, headers(v0), BODY, NOW)).toEqual(bad);
    expect(verifyWebhookSignature(SECRET, headers('v1=abc'), BODY, NOW)).toEqual(bad);
  });

  it('refuses timestamps more than 5 minutes away, either way', () => {
    expect(verifyWebhookSignature(SECRET, headers(), BODY, NOW + 300_000)).toMatchObject({ valid: true });
    const stale = { valid: false, reason: 'stale-timestamp' };
    expect(verifyWebhookSignature(SECRET, headers(), BODY, NOW + 301_000)).toEqual(stale);
    expect(verifyWebhookSignature(SECRET, headers(), BODY, NOW - 301_000)).toEqual(stale);
  });

  it('refuses missing or malformed headers', () => {
    const missing = { valid: false, reason: 'missing-header' };
    expect(verifyWebhookSignature(SECRET, {}, BODY, NOW)).toEqual(missing);
    expect(verifyWebhookSignature(SECRET, { 'custody-timestamp': String(TS) }, BODY, NOW)).toEqual(missing);
    expect(verifyWebhookSignature(SECRET, headers(undefined, '17e8'), BODY, NOW)).toEqual(missing);
  });
});

describe('retry backoff', () => {
  it('doubles from the base and is capped at one hour', () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, 10_000))).toEqual([10_000, 20_000, 40_000, 80_000]);
    expect(retryDelayMs(9, 10_000)).toBe(2_560_000);
    expect(retryDelayMs(10, 10_000)).toBe(3_600_000);
    expect(retryDelayMs(40, 10_000)).toBe(3_600_000);
  });
});
