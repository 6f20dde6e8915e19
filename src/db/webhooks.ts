import type { Queryable } from './pool.js';

export interface WebhookEndpointRow {
  id: string;
  tenant_id: string;
  url: string;
  events: string[];
  cursor_seq: number;
  active: boolean;
  disabled_reason: string | null;
  created_at: Date;
}

export interface WebhookDeliveryRow {
  endpoint_id: string;
  seq: number;
  event_type: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  last_attempt_at: Date | null;
  last_http_status: number | null;
  last_error: string | null;
  next_attempt_at: Date | null;
  delivered_at: Date | null;
  created_at: Date;
}

/** Never the secret: it is read only by `getEndpointSecret`, for signing. */
const ENDPOINT = 'id, tenant_id, url, events, cursor_seq, active, disabled_reason, created_at';
const DELIVERY =
  'endpoint_id, seq, event_type, status, attempts, last_attempt_at, last_http_status, last_error, next_attempt_at, delivered_at, created_at';

export async function insertEndpoint(
  db: Queryable,
  e: {
    id: string;
    tenantId: string;
    url: string;
    events: string[];
    secretCiphertext: Buffer;
    cursorSeq: number;
  },
): Promise<WebhookEndpointRow> {
  const r = await db.query<WebhookEndpointRow>(
    `INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret_ciphertext, cursor_seq)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${ENDPOINT}`,
    [e.id, e.tenantId, e.url, e.events, e.secretCiphertext, e.cursorSeq],
  );
  return r.rows[0]!;
}

export async function countActiveEndpoints(db: Queryable, tenantId: string): Promise<number> {
  const r = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM webhook_endpoints WHERE tenant_id = $1 AND active',
    [tenantId],
  );
  return r.rows[0]!.n;
}

export async function listEndpoints(db: Queryable, tenantId: string): Promise<WebhookEndpointRow[]> {
  const r = await db.query<WebhookEndpointRow>(
    `SELECT ${ENDPOINT} FROM webhook_endpoints WHERE tenant_id = $1 AND active ORDER BY created_at, id`,
    [tenantId],
  );
  return r.rows;
}

/** An active endpoint of this tenant (another tenant's looks missing). */
export async function getEndpoint(
  db: Queryable,
  tenantId: string,
  id: string,
): Promise<WebhookEndpointRow | undefined> {
  const r = await db.query<WebhookEndpointRow>(
    `SELECT ${ENDPOINT} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 AND active`,
    [tenantId, id],
  );
  return r.rows[0];
}

export async function getEndpointById(db: Queryable, id: string): Promise<WebhookEndpointRow | undefined> {
  const r = await db.query<WebhookEndpointRow>(`SELECT ${ENDPOINT} FROM webhook_endpoints WHERE id = $1`, [
    id,
  ]);
  return r.rows[0];
}

export async function getEndpointSecret(db: Queryable, id: string): Promise<Buffer | undefined> {
  const r = await db.query<{ secret_ciphertext: Buffer | null }>(
    'SELECT secret_ciphertext FROM webhook_endpoints WHERE id = $1 AND active',
    [id],
  );
  return r.rows[0]?.secret_ciphertext ?? undefined;
}

/** Deactivates and forgets the secret; the delivery log stays. */
export async function deactivateEndpoint(
  db: Queryable,
  tenantId: string,
  id: string,
  reason: string,
): Promise<WebhookEndpointRow | undefined> {
  const r = await db.query<WebhookEndpointRow>(
    `UPDATE webhook_endpoints SET active = false, disabled_reason = $3, secret_ciphertext = NULL, updated_at = now()
      WHERE tenant_id = $1 AND id = $2 AND active RETURNING ${ENDPOINT}`,
    [tenantId, id, reason],
  );
  return r.rows[0];
}

export async function setCursor(db: Queryable, id: string, seq: number): Promise<void> {
  await db.query(
    'UPDATE webhook_endpoints SET cursor_seq = GREATEST(cursor_seq, $2), updated_at = now() WHERE id = $1',
    [id, seq],
  );
}

/**
 * Active endpoints with something to do: an audit entry past the cursor, or a pending
 * delivery that is due (`pingType` deliveries never hold the queue). Oldest work first, so a busy tenant cannot starve the others.
 */
export async function endpointsWithWork(db: Queryable, limit: number, pingType: string): Promise<string[]> {
  const r = await db.query<{ id: string }>(
    `SELECT e.id FROM webhook_endpoints e JOIN audit_heads h ON h.tenant_id = e.tenant_id
      WHERE e.active AND (
        (h.seq > e.cursor_seq AND NOT EXISTS (
           SELECT 1 FROM webhook_deliveries d
            WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.event_type <> $2 AND d.next_attempt_at > now()))
        OR EXISTS (
           SELECT 1 FROM webhook_deliveries d
            WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= now()))
      ORDER BY e.updated_at LIMIT $1`,
    [limit, pingType],
  );
  return r.rows.map((row) => row.id);
}

export async function insertDelivery(
  db: Queryable,
  d: { endpointId: string; seq: number; eventType: string },
): Promise<void> {
  await db.query(
    `INSERT INTO webhook_deliveries (endpoint_id, seq, event_type, status, next_attempt_at)
     VALUES ($1, $2, $3, 'pending', now()) ON CONFLICT DO NOTHING`,
    [d.endpointId, d.seq, d.eventType],
  );
}

/** Pending deliveries in seq order: pings, and at most one subscribed event (the head). */
export async function pendingDeliveries(db: Queryable, endpointId: string): Promise<WebhookDeliveryRow[]> {
  const r = await db.query<WebhookDeliveryRow>(
    `SELECT ${DELIVERY} FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'pending' ORDER BY seq`,
    [endpointId],
  );
  return r.rows;
}

export async function recordAttempt(
  db: Queryable,
  endpointId: string,
  seq: number,
  a: {
    status: WebhookDeliveryRow['status'];
    httpStatus: number | null;
    error: string | null;
    nextAttemptAt: Date | null;
  },
): Promise<void> {
  await db.query(
    `UPDATE webhook_deliveries
        SET attempts = attempts + 1, last_attempt_at = now(), status = $3, last_http_status = $4, last_error = $5,
            next_attempt_at = $6, delivered_at = CASE WHEN $3 = 'delivered' THEN now() END
      WHERE endpoint_id = $1 AND seq = $2`,
    [endpointId, seq, a.status, a.httpStatus, a.error, a.nextAttemptAt],
  );
}

/** The delivery log, newest first; the cursor is the last seq returned. */
export async function listDeliveries(
  db: Queryable,
  endpointId: string,
  q: { limit: number; beforeSeq?: number },
): Promise<WebhookDeliveryRow[]> {
  const r = await db.query<WebhookDeliveryRow>(
    `SELECT ${DELIVERY} FROM webhook_deliveries
      WHERE endpoint_id = $1 AND ($2::bigint IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3`,
    [endpointId, q.beforeSeq ?? null, q.limit],
  );
  return r.rows;
}
