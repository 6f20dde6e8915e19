/** Registering, listing, deleting and pinging a tenant's webhook endpoints, and the delivery log. */
import { randomBytes } from 'node:crypto';
import type { Context } from '../context.js';
import { type Db, transaction } from '../db/pool.js';
import {
  countActiveEndpoints,
  deactivateEndpoint,
  getEndpoint,
  insertDelivery,
  insertEndpoint,
  listDeliveries,
  listEndpoints,
  type WebhookDeliveryRow,
  type WebhookEndpointRow,
} from '../db/webhooks.js';
import { appendAudit } from '../domain/audit.js';
import { requireTenant } from '../domain/tenants.js';
import { conflict, notFound } from '../errors.js';
import { assertEndpointAllowed } from '../security/endpoint-guard.js';
import { eventId, PING_EVENT, WEBHOOK_EVENTS } from './events.js';

/** Enough for a few receivers per environment; a cap keeps one tenant from fanning out without bound. */
export const MAX_ENDPOINTS_PER_TENANT = 20;

/**
 * The secret is sealed with `TenantSecrets` under a purpose naming the endpoint, so a
 * sealed value copied to another endpoint, tenant or to storage credentials does not open.
 */
export const secretPurpose = (endpointId: string) => `webhook-secret/${endpointId}`;

export interface WebhookEndpointView {
  id: string;
  url: string;
  events: string[];
  createdAt: string;
}

export interface WebhookDeliveryView {
  eventId: string;
  seq: number;
  type: string;
  status: WebhookDeliveryRow['status'];
  attempts: number;
  lastAttemptAt: string | null;
  lastHttpStatus: number | null;
  lastError: string | null;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  createdAt: string;
}

const endpointView = (e: WebhookEndpointRow): WebhookEndpointView => ({
  id: e.id,
  url: e.url,
  events: e.events,
  createdAt: e.created_at.toISOString(),
});

const deliveryView = (tenantId: string, d: WebhookDeliveryRow): WebhookDeliveryView => ({
  eventId: eventId(tenantId, d.seq),
  seq: d.seq,
  type: d.event_type,
  status: d.status,
  attempts: d.attempts,
  lastAttemptAt: d.last_attempt_at?.toISOString() ?? null,
  lastHttpStatus: d.last_http_status,
  lastError: d.last_error,
  nextAttemptAt: d.next_attempt_at?.toISOString() ?? null,
  deliveredAt: d.delivered_at?.toISOString() ?? null,
  createdAt: d.created_at.toISOString(),
});

/**
 * Registers an endpoint; the signing secret is returned this once. The URL passes the
 * SSRF guard first (400 `ENDPOINT_NOT_ALLOWED`, nothing stored). The endpoint's cursor
 * starts at its own `webhook.created` audit entry: only later events are sent.
 */
export async function createEndpoint(
  ctx: Context,
  actor: string,
  tenantId: string,
  input: { url: string; events?: string[] },
): Promise<WebhookEndpointView & { secret: string }> {
  await requireTenant(ctx.db, tenantId);
  const url = await assertEndpointAllowed(input.url, 'url', { allow: ctx.config.allowPrivateEndpoints });
  const wanted = new Set(input.events ?? WEBHOOK_EVENTS);
  const events = WEBHOOK_EVENTS.filter((e) => wanted.has(e));
  const id = `wh_${randomBytes(12).toString('hex')}`;
  const secret = `whsec_${randomBytes(32).toString('base64url')}`;
  const sealed = await ctx.secrets.seal(tenantId, 0, { secret }, secretPurpose(id));
  const row = await transaction(ctx.db, async (tx) => {
    // Serialises registrations of one tenant, so the cap holds under concurrent calls.
    await tx.query('SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE', [tenantId]);
    if ((await countActiveEndpoints(tx, tenantId)) >= MAX_ENDPOINTS_PER_TENANT)
      throw conflict(
        `A tenant can have at most ${MAX_ENDPOINTS_PER_TENANT} webhook endpoints.`,
        'WEBHOOK_LIMIT',
      );
    const entry = await appendAudit(tx, tenantId, {
      actor,
      action: 'webhook.created',
      target: `webhook:${id}`,
      // The origin only: a receiver's path or query can hold a token of its own.
      detail: { origin: url.origin, events },
    });
    return insertEndpoint(tx, {
      id,
      tenantId,
      url: url.href,
      events,
      secretCiphertext: sealed,
      cursorSeq: entry.seq,
    });
  });
  return { ...endpointView(row), secret };
}

export async function listEndpointViews(db: Db, tenantId: string): Promise<WebhookEndpointView[]> {
  await requireTenant(db, tenantId);
  return (await listEndpoints(db, tenantId)).map(endpointView);
}

/** Stops deliveries (one already in flight finishes) and forgets the secret; the log is kept. */
export async function deleteEndpoint(db: Db, actor: string, tenantId: string, id: string): Promise<void> {
  await transaction(db, async (tx) => {
    const row = await deactivateEndpoint(tx, tenantId, id, 'deleted');
    if (!row) throw notFound('Webhook');
    await appendAudit(tx, tenantId, {
      actor,
      action: 'webhook.deleted',
      target: `webhook:${id}`,
      detail: {},
    });
  });
}

/** Queues a `webhook.ping` delivery to this endpoint only, audited like every other action. */
export async function pingEndpoint(
  db: Db,
  actor: string,
  tenantId: string,
  id: string,
): Promise<{ eventId: string }> {
  return transaction(db, async (tx) => {
    if (!(await getEndpoint(tx, tenantId, id))) throw notFound('Webhook');
    const entry = await appendAudit(tx, tenantId, {
      actor,
      action: PING_EVENT,
      target: `webhook:${id}`,
      detail: {},
    });
    await insertDelivery(tx, { endpointId: id, seq: entry.seq, eventType: PING_EVENT });
    return { eventId: eventId(tenantId, entry.seq) };
  });
}

export async function deliveryLog(
  db: Db,
  tenantId: string,
  id: string,
  q: { limit: number; cursor?: string },
): Promise<{ items: WebhookDeliveryView[]; nextCursor?: string }> {
  if (!(await getEndpoint(db, tenantId, id))) throw notFound('Webhook');
  const rows = await listDeliveries(db, id, {
    limit: q.limit + 1,
    ...(q.cursor === undefined ? {} : { beforeSeq: Number(q.cursor) }),
  });
  const items = rows.slice(0, q.limit).map((d) => deliveryView(tenantId, d));
  return rows.length > q.limit ? { items, nextCursor: String(items[items.length - 1]!.seq) } : { items };
}
