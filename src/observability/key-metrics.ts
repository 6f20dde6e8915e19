import type { Context } from '../context.js';
import { type KeyMetricsRow, keyMetricsRows } from '../db/key-health.js';
import type { Metrics } from './metrics.js';

const DAY_MS = 86_400_000;

/**
 * Sets the per-tenant key gauges from PostgreSQL: the health verdicts the workers keep in
 * `key_health`, and the age of each active storage version (its key) against the rotation
 * policy. Read from the database at scrape time so every process (API or worker) reports
 * the same values, whichever worker ran the check. Skipped while PostgreSQL is down.
 */
export async function sampleKeyMetrics(ctx: Context, now = new Date()): Promise<void> {
  let rows: KeyMetricsRow[];
  try {
    rows = await keyMetricsRows(ctx.db);
  } catch {
    return;
  }
  setKeyGauges(ctx.metrics, rows, ctx.config.keyRotationDays, now);
}

/**
 * The gauges for these tenants, replacing the previous ones. Synchronous: a scrape never
 * sees half a refill, and a tenant whose storage changed keeps no stale series.
 */
export function setKeyGauges(m: Metrics, rows: KeyMetricsRow[], policyDays: number, now: Date): void {
  m.keyHealthy.reset();
  m.keyPendingDeletionSeconds.reset();
  m.activeKeyAgeDays.reset();
  m.keyRotationOverdue.reset();
  for (const r of rows) {
    const tenant = r.tenant_id;
    const ageDays = Math.max(0, (now.getTime() - r.version_created_at.getTime()) / DAY_MS);
    m.activeKeyAgeDays.set({ tenant }, Math.round(ageDays * 1000) / 1000);
    m.keyRotationOverdue.set({ tenant }, ageDays > policyDays ? 1 : 0);
    // No verdict yet for this version: no health series rather than a guess.
    if (r.state !== null) m.keyHealthy.set({ tenant }, r.state === 'ok' ? 1 : 0);
    if (r.state === 'pending-deletion' && r.deletion_date) {
      const seconds = Math.max(0, Math.round((r.deletion_date.getTime() - now.getTime()) / 1000));
      m.keyPendingDeletionSeconds.set({ tenant }, seconds);
    }
  }
}
