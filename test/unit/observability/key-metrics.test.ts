import { describe, expect, it } from 'vitest';
import { KeyProviderError } from '../../../src/errors.js';
import { healthOfError } from '../../../src/keys/health.js';
import { setKeyGauges } from '../../../src/observability/key-metrics.js';
import { createMetrics } from '../../../src/observability/metrics.js';

const DAY = 86_400_000;
const now = new Date('2026-06-01T00:00:00Z');

async function sample(m: ReturnType<typeof createMetrics>, name: string, tenant: string) {
  const metric = (await m.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return metric?.values.find((v) => v.labels.tenant === tenant)?.value;
}

describe('rotation compliance and key health gauges', () => {
  it('a storage version older than the policy is overdue; a younger one is not', async () => {
    const m = createMetrics();
    setKeyGauges(
      m,
      [
        {
          tenant_id: 'old',
          version_created_at: new Date(now.getTime() - 400 * DAY),
          state: 'ok',
          deletion_date: null,
        },
        {
          tenant_id: 'new',
          version_created_at: new Date(now.getTime() - 10 * DAY),
          state: null,
          deletion_date: null,
        },
      ],
      365,
      now,
    );
    expect(await sample(m, 'custody_active_key_age_days', 'old')).toBe(400);
    expect(await sample(m, 'custody_key_rotation_overdue', 'old')).toBe(1);
    expect(await sample(m, 'custody_active_key_age_days', 'new')).toBe(10);
    expect(await sample(m, 'custody_key_rotation_overdue', 'new')).toBe(0);
    // The policy is the operator's: at 9 days the 10-day-old key is overdue too.
    setKeyGauges(
      m,
      [
        {
          tenant_id: 'new',
          version_created_at: new Date(now.getTime() - 10 * DAY),
          state: null,
          deletion_date: null,
        },
      ],
      9,
      now,
    );
    expect(await sample(m, 'custody_key_rotation_overdue', 'new')).toBe(1);
    // Replaced, not accumulated: a tenant no longer listed has no series left.
    expect(await sample(m, 'custody_key_rotation_overdue', 'old')).toBeUndefined();
  });

  it('health: 1 for ok, 0 otherwise, no series before a verdict; seconds to a scheduled deletion', async () => {
    const m = createMetrics();
    const created = new Date(now.getTime() - DAY);
    setKeyGauges(
      m,
      [
        { tenant_id: 'a', version_created_at: created, state: 'ok', deletion_date: null },
        {
          tenant_id: 'b',
          version_created_at: created,
          state: 'pending-deletion',
          deletion_date: new Date(now.getTime() + 7 * DAY),
        },
        { tenant_id: 'c', version_created_at: created, state: 'access-denied', deletion_date: null },
        { tenant_id: 'd', version_created_at: created, state: null, deletion_date: null },
      ],
      365,
      now,
    );
    expect(await sample(m, 'custody_key_healthy', 'a')).toBe(1);
    expect(await sample(m, 'custody_key_healthy', 'b')).toBe(0);
    expect(await sample(m, 'custody_key_healthy', 'c')).toBe(0);
    expect(await sample(m, 'custody_key_healthy', 'd')).toBeUndefined();
    expect(await sample(m, 'custody_key_pending_deletion_seconds', 'b')).toBe(7 * 86_400);
    expect(await sample(m, 'custody_key_pending_deletion_seconds', 'a')).toBeUndefined();
  });
});

describe('healthOfError', () => {
  const tenant = (code: string, cause?: unknown) => new KeyProviderError('tenant', code, code, { cause });
  it.each([
    ['DisabledException', 'disabled'],
    ['KeyDisabled', 'disabled'],
    ['KMSInvalidStateException', 'disabled'],
    ['KeyExpired', 'expired'],
    ['NotFoundException', 'not-found'],
    ['KeyNotFound', 'not-found'],
    ['AccessDeniedException', 'access-denied'],
    ['ForbiddenByRbac', 'access-denied'],
    ['AccessDenied', 'access-denied'],
  ])('tenant error %s is %s', (code, state) => {
    expect(healthOfError(tenant(code))).toEqual({ state, code });
  });

  it('a 404 under another code is not-found; transient and foreign errors are unreachable (no pause)', () => {
    expect(healthOfError(tenant('HTTP404', { statusCode: 404 })).state).toBe('not-found');
    expect(healthOfError(new KeyProviderError('transient', 'ThrottlingException', 'x'))).toEqual({
      state: 'unreachable',
      code: 'ThrottlingException',
    });
    expect(healthOfError(new TypeError('boom'))).toEqual({ state: 'unreachable', code: 'TypeError' });
  });
});
