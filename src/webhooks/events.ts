/**
 * The audit actions a tenant can subscribe a webhook to. Each is appended to the tenant's
 * audit chain in the same transaction as the state change it records, so the chain is
 * the event source: nothing emits webhooks, the dispatcher reads the chain.
 */
export const WEBHOOK_EVENTS = [
  'recording.stored',
  'recording.blocked',
  'recording.failed',
  'recording.deleted',
  'key.unavailable',
  'key.pending_deletion',
  'key.healthy',
  'storage.activated',
  /** The tenant's deletion completed (its certificate issued): the last event it receives. */
  'tenant.deleted',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/**
 * A test delivery queued by `POST …/webhooks/{id}/ping`: audited like any action, sent to
 * that one endpoint only, whatever it subscribed to, and not held behind a retrying event.
 */
export const PING_EVENT = 'webhook.ping';

/** `Custody-Event-Id` and the body's `id`: stable across retries, so receivers can dedupe. */
export const eventId = (tenantId: string, seq: number) => `${tenantId}:${seq}`;
