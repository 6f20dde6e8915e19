import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The service's Prometheus metrics, on a registry of its own (several app instances
 * in one test process must not share counters).
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'custody_process_' });
  const m = {
    registry,
    received: new Counter({
      name: 'custody_recordings_received_total',
      help: 'Recordings accepted into the spool',
      labelNames: ['source'],
      registers: [registry],
    }),
    stored: new Counter({
      name: 'custody_recordings_stored_total',
      help: 'Recordings stored and verified in tenant storage',
      registers: [registry],
    }),
    blocked: new Counter({
      name: 'custody_recordings_blocked_total',
      help: 'Transfers blocked on something only the tenant can fix',
      labelNames: ['code'],
      registers: [registry],
    }),
    failed: new Counter({
      name: 'custody_recordings_failed_total',
      help: 'Recordings that can never be delivered',
      labelNames: ['code'],
      registers: [registry],
    }),
    bytesEncrypted: new Counter({
      name: 'custody_bytes_encrypted_total',
      help: 'Plaintext bytes encrypted into tenant objects',
      registers: [registry],
    }),
    transferDuration: new Histogram({
      name: 'custody_transfer_duration_seconds',
      help: 'Spool to verified store, per recording',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    keyProviderCalls: new Counter({
      name: 'custody_key_provider_calls_total',
      help: 'Calls to tenant key providers',
      labelNames: ['provider', 'operation', 'outcome'],
      registers: [registry],
    }),
    playbackRequests: new Counter({
      name: 'custody_playback_requests_total',
      help: 'Playback stream requests by HTTP status',
      labelNames: ['status'],
      registers: [registry],
    }),
    webhookDeliveries: new Counter({
      name: 'custody_webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome (delivered, retry, failed = given up)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    keyHealthy: new Gauge({
      name: 'custody_key_healthy',
      help: "1 while the tenant's active key passed its last health check, 0 while it is unusable",
      labelNames: ['tenant'],
      registers: [registry],
    }),
    keyPendingDeletionSeconds: new Gauge({
      name: 'custody_key_pending_deletion_seconds',
      help: "Seconds until the tenant's key is deleted (only for keys pending deletion)",
      labelNames: ['tenant'],
      registers: [registry],
    }),
    activeKeyAgeDays: new Gauge({
      name: 'custody_active_key_age_days',
      help: "Age in days of the tenant's active storage version (and so of its key)",
      labelNames: ['tenant'],
      registers: [registry],
    }),
    keyRotationOverdue: new Gauge({
      name: 'custody_key_rotation_overdue',
      help: '1 when the active key is older than the rotation policy (CUSTODY_KEY_ROTATION_DAYS)',
      labelNames: ['tenant'],
      registers: [registry],
    }),
    keyJobRecordings: new Counter({
      name: 'custody_key_job_recordings_total',
      help: 'Recordings handled by rewrap, re-encrypt and migrate jobs, by outcome',
      labelNames: ['kind', 'outcome'],
      registers: [registry],
    }),
    keyJobBytes: new Counter({
      name: 'custody_key_job_bytes_total',
      help: 'Bytes of new objects written by key jobs: copied inside the store (server-copy) or streamed through Custody',
      labelNames: ['kind', 'method'],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'custody_queue_jobs',
      help: 'Jobs per queue and state (sampled at scrape)',
      labelNames: ['queue', 'state'],
      registers: [registry],
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
