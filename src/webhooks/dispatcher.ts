/**
 * Delivers each endpoint's events in audit order, at least once. The tenant's audit chain
 * is the event source: the dispatcher reads entries after the endpoint's cursor, queues the
 * next subscribed one as a delivery, and sends it; nothing else emits webhooks.
 *
 * Ordering: one subscribed event per endpoint is in flight at a time. A failing event is
 * retried with exponential backoff and holds the later ones back until it is delivered
 * or given up (`giveUpMs` after it occurred: status `failed`, then the queue moves on).
 * So a receiver sees events in order, and a dead receiver delays them by at most about
 * `giveUpMs`, never forever. Pings skip the queue (see events.ts).
 *
 * Concurrency: runs in every worker process. An endpoint is worked on only under a
 * session-level PostgreSQL advisory lock, so two pods never send the same event at once;
 * the lock dies with the connection if a process does.
 */
import type { Context } from '../context.js';
import type { DbClient } from '../db/pool.js';
import {
  deactivateEndpoint,
  endpointsWithWork,
  getEndpointById,
  getEndpointSecret,
  insertDelivery,
  pendingDeliveries,
  recordAttempt,
  setCursor,
  type WebhookDeliveryRow,
  type WebhookEndpointRow,
} from '../db/webhooks.js';
import { assertEndpointAllowed } from '../security/endpoint-guard.js';
import { secretPurpose } from './endpoints.js';
import { eventId, PING_EVENT } from './events.js';
import { retryDelayMs } from './schedule.js';
import { type SendResult, WebhookSender } from './send.js';
import { HEADER, signatureHeader } from './signature.js';

/** First key of the advisory lock (two-int form): "WHK1", so it collides with nothing of ours. */
const LOCK_NAMESPACE = 0x57484b31;
/** Endpoints worked on at once per process (each holds one pool connection while sending). */
const PARALLEL = 4;
/** Per endpoint and tick, so one busy endpoint cannot keep the lock (and the tick) forever. */
const MAX_SENDS_PER_TURN = 50;
const TURN_BUDGET_MS = 30_000;
/** Audit entries scanned per query when looking for the next subscribed event. */
const SCAN = 500;

export interface RunningDispatcher {
  /** Stops the timer and waits for the current tick. */
  close(): Promise<void>;
}

/** A timer in every worker process, like the reconciler: no Redis schedule to lose. */
export function startWebhookDispatcher(ctx: Context): RunningDispatcher {
  const sender = new WebhookSender(ctx.config.allowPrivateEndpoints);
  let running: Promise<void> | undefined;
  const tick = () => {
    running ??= dispatchOnce(ctx, sender)
      .catch((err: unknown) => ctx.log.warn({ err: (err as Error).message }, 'webhook dispatch deferred'))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, ctx.config.webhooks.intervalMs);
  timer.unref();
  tick();
  return {
    async close() {
      clearInterval(timer);
      await running;
      sender.close();
    },
  };
}

/** One pass over every endpoint with work: up to PARALLEL at once, each under its lock. */
export async function dispatchOnce(ctx: Context, sender: WebhookSender): Promise<void> {
  const ids = await endpointsWithWork(ctx.db, 200, PING_EVENT);
  let next = 0;
  const lane = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      await withEndpointLock(ctx, id, (db) => new Turn(ctx, sender, db, id).run()).catch((err: unknown) =>
        ctx.log.warn({ webhookId: id, err: (err as Error).message }, 'webhook turn failed'),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, ids.length) }, lane));
}

/** Runs `fn` on one connection holding the endpoint's lock; skips it when another holds it. */
async function withEndpointLock(ctx: Context, id: string, fn: (db: DbClient) => Promise<void>) {
  const client = await ctx.db.connect();
  let broken: Error | undefined;
  try {
    const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [
      LOCK_NAMESPACE,
      id,
    ]);
    if (!got.rows[0]?.ok) return;
    try {
      await fn(client);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_NAMESPACE, id]).catch((err) => {
        broken = err as Error; // never reuse a connection that may still hold the lock
      });
    }
  } catch (err) {
    broken = err as Error;
    throw err;
  } finally {
    client.release(broken);
  }
}

interface AuditRow {
  seq: number;
  at: Date;
  action: string;
  target: string;
  detail: Record<string, unknown>;
}

/** One endpoint's share of a tick, under its lock. */
class Turn {
  #secret: string | undefined;
  #sends = 0;
  readonly #deadline = Date.now() + TURN_BUDGET_MS;

  constructor(
    private readonly ctx: Context,
    private readonly sender: WebhookSender,
    private readonly db: DbClient,
    private readonly id: string,
  ) {}

  async run(): Promise<void> {
    for (;;) {
      // Re-read every round: a deletion stops the queue at the next event.
      const endpoint = await getEndpointById(this.db, this.id);
      if (!endpoint?.active || this.#spent()) return;
      const pending = await pendingDeliveries(this.db, this.id);
      for (const ping of pending.filter((d) => d.event_type === PING_EVENT && isDue(d)))
        await this.#attempt(endpoint, ping);
      const head = pending.find((d) => d.event_type !== PING_EVENT);
      if (head) {
        if (!isDue(head) || !(await this.#attempt(endpoint, head))) return;
      } else if (!(await this.#queueNext(endpoint))) {
        await this.#retireIfTenantDeleted(endpoint);
        return;
      }
    }
  }

  /**
   * Caught up with a deleted tenant's chain (its `tenant.deleted` and everything before it
   * offered): the endpoint is retired and its secret forgotten, as the tenant's storage
   * credentials were. Nothing is appended to a deleted tenant's chain, so nothing is missed.
   */
  async #retireIfTenantDeleted(endpoint: WebhookEndpointRow): Promise<void> {
    const tenant = await this.db.query<{ status: string }>('SELECT status FROM tenants WHERE id = $1', [
      endpoint.tenant_id,
    ]);
    if (tenant.rows[0]?.status !== 'deleted') return;
    await deactivateEndpoint(this.db, endpoint.tenant_id, this.id, 'tenant deleted');
    this.ctx.log.info(
      { tenantId: endpoint.tenant_id, webhookId: this.id },
      'webhook retired: tenant deleted',
    );
  }

  #spent() {
    return this.#sends >= MAX_SENDS_PER_TURN || Date.now() > this.#deadline;
  }

  /** Queues the next subscribed event after the cursor; false when there is none yet. */
  async #queueNext(endpoint: WebhookEndpointRow): Promise<boolean> {
    const rows = await this.db.query<{ seq: number; action: string }>(
      'SELECT seq, action FROM audit_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
      [endpoint.tenant_id, endpoint.cursor_seq, SCAN],
    );
    const match = rows.rows.find((r) => endpoint.events.includes(r.action));
    const last = rows.rows[rows.rows.length - 1];
    if (!match) {
      // Nothing subscribed in this stretch: skip past it so it is never scanned again.
      if (last) await setCursor(this.db, this.id, last.seq);
      return rows.rows.length === SCAN;
    }
    await this.db.query('BEGIN');
    try {
      await insertDelivery(this.db, { endpointId: this.id, seq: match.seq, eventType: match.action });
      await setCursor(this.db, this.id, match.seq);
      await this.db.query('COMMIT');
    } catch (err) {
      await this.db.query('ROLLBACK').catch(() => {});
      throw err;
    }
    return true;
  }

  /** Sends one delivery and records the attempt; true when it is settled (delivered or given up). */
  async #attempt(endpoint: WebhookEndpointRow, d: WebhookDeliveryRow): Promise<boolean> {
    this.#sends += 1;
    const tenantId = endpoint.tenant_id;
    const event = (
      await this.db.query<AuditRow>(
        'SELECT seq, at, action, target, detail FROM audit_events WHERE tenant_id = $1 AND seq = $2',
        [tenantId, d.seq],
      )
    ).rows[0];
    const secret = await this.#openSecret(endpoint);
    if (!event || secret === undefined) return false; // deleted meanwhile (the chain is append-only)
    const body = JSON.stringify({
      id: eventId(tenantId, event.seq),
      type: event.action,
      tenantId,
      occurredAt: event.at.toISOString(),
      target: event.target,
      data: event.detail,
    });
    const result = await this.#send(endpoint, secret, event, body);
    const log = this.ctx.log.child({ tenantId, webhookId: this.id, seq: d.seq, type: d.event_type });
    if (result.delivered) {
      await recordAttempt(this.db, this.id, d.seq, {
        status: 'delivered',
        ...outcome(result),
        nextAttemptAt: null,
      });
      this.ctx.metrics.webhookDeliveries.inc({ outcome: 'delivered' });
      log.debug({ attempts: d.attempts + 1 }, 'webhook delivered');
      return true;
    }
    const giveUp = Date.now() - event.at.getTime() >= this.ctx.config.webhooks.giveUpMs;
    const nextAttemptAt = giveUp
      ? null
      : new Date(Date.now() + retryDelayMs(d.attempts + 1, this.ctx.config.webhooks.retryBaseMs));
    await recordAttempt(this.db, this.id, d.seq, {
      status: giveUp ? 'failed' : 'pending',
      ...outcome(result),
      nextAttemptAt,
    });
    this.ctx.metrics.webhookDeliveries.inc({ outcome: giveUp ? 'failed' : 'retry' });
    log.info({ attempts: d.attempts + 1, error: result.error, gaveUp: giveUp }, 'webhook delivery failed');
    return giveUp;
  }

  async #send(
    endpoint: WebhookEndpointRow,
    secret: string,
    event: AuditRow,
    body: string,
  ): Promise<SendResult> {
    let url: URL;
    try {
      // The same rules as at registration (the allow list may have changed since); the
      // guarded agents then check the address actually connected to.
      url = await assertEndpointAllowed(endpoint.url, 'url', {
        allow: this.ctx.config.allowPrivateEndpoints,
      });
    } catch (err) {
      return { delivered: false, httpStatus: null, error: (err as Error).message };
    }
    const timestamp = Math.floor(Date.now() / 1000);
    return this.sender.post(url, body, {
      [HEADER.webhookId]: this.id,
      [HEADER.eventId]: eventId(endpoint.tenant_id, event.seq),
      [HEADER.timestamp]: String(timestamp),
      [HEADER.signature]: signatureHeader(secret, timestamp, body),
    });
  }

  async #openSecret(endpoint: WebhookEndpointRow): Promise<string | undefined> {
    if (this.#secret !== undefined) return this.#secret;
    const sealed = await getEndpointSecret(this.db, this.id);
    if (!sealed) return undefined;
    const opened = await this.ctx.secrets.open(endpoint.tenant_id, 0, sealed, secretPurpose(this.id));
    this.#secret = String(opened.secret);
    return this.#secret;
  }
}

/** A never-tried delivery is due at once (its next_attempt_at is the database's clock, not ours). */
const isDue = (d: WebhookDeliveryRow) =>
  d.attempts === 0 || (d.next_attempt_at !== null && d.next_attempt_at.getTime() <= Date.now());
const outcome = (r: SendResult) => ({ httpStatus: r.httpStatus, error: r.error });
