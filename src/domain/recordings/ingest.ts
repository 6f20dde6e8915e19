import type { Readable } from 'node:stream';
import type { Context } from '../../context.js';
import { claimIdempotencyKey, type IdempotencyRow } from '../../db/idempotency.js';
import { lockTenantStatus } from '../../db/offboarding.js';
import { transaction } from '../../db/pool.js';
import { getRecording, insertRecording, type RecordingRow, tenantForIngest } from '../../db/recordings.js';
import { AppError, badRequest, conflict, notFound } from '../../errors.js';
import { appendAudit } from '../audit.js';
import { addDuration, parseDuration } from '../duration.js';
import { newRecordingId, type RecordingView, recordingView } from './view.js';

export interface IngestInput {
  tenantId: string;
  actor: string;
  contentType: string;
  /** From `Content-Length` when the client sent one: lets oversized uploads fail before a byte is read. */
  declaredLength?: number;
  idempotencyKey?: string;
  callId: string;
  agentId?: string;
  startedAt?: Date;
  direction?: 'inbound' | 'outbound';
  body: Readable;
  source: 'http' | 'inbox';
}

class Replay {
  constructor(readonly prior: IdempotencyRow) {}
}

const tooLarge = (max: number) =>
  new AppError(413, 'PAYLOAD_TOO_LARGE', `The recording exceeds the largest accepted size (${max} bytes).`);
const quotaFull = () =>
  new AppError(
    429,
    'SPOOL_QUOTA_EXCEEDED',
    "The tenant's spool quota is full; retry once pending recordings are stored.",
  );

/**
 * Receives one recording: streams it into the encrypted spool (hashing on the way),
 * makes it durable, records the row, then enqueues its transfer. Replies 202 only once
 * bytes and row are safe; a failure at any point leaves neither behind.
 */
export async function ingestRecording(
  ctx: Context,
  input: IngestInput,
): Promise<{ status: 200 | 202; view: RecordingView }> {
  const { config, db } = ctx;
  const tenant = await tenantForIngest(db, input.tenantId);
  if (!tenant) throw notFound('Tenant');
  const retention = parseDuration(tenant.retention);
  if (!retention) throw new Error(`tenant ${input.tenantId} has an invalid retention`);

  const max = config.maxRecordingBytes;
  const remaining = config.spoolQuotaBytes - tenant.spool_usage;
  if (input.declaredLength !== undefined && input.declaredLength > max) throw tooLarge(max);
  if (remaining <= 0 || (input.declaredLength !== undefined && input.declaredLength > remaining))
    throw quotaFull();
  const quotaBinds = remaining < max;

  const id = newRecordingId();
  const receivedAt = new Date();
  const received = await ctx.spool.receive(input.tenantId, id, input.body, {
    limit: quotaBinds ? remaining : max,
    onLimit: () => (quotaBinds ? quotaFull() : tooLarge(max)),
  });
  if (received.size === 0) {
    await ctx.spool.remove(received.file);
    throw badRequest('The request body is empty: send the audio bytes.', 'EMPTY_BODY');
  }

  let row: RecordingRow;
  try {
    row = await transaction(db, async (tx) => {
      // Under the tenant's row lock: an upload that began before a tenant deletion must
      // not land after it (the deletion takes the row FOR UPDATE, then deletes everything).
      if ((await lockTenantStatus(tx, input.tenantId)) !== 'active') throw notFound('Tenant');
      const inserted = await insertRecording(tx, {
        id,
        tenantId: input.tenantId,
        callId: input.callId,
        agentId: input.agentId ?? null,
        startedAt: input.startedAt ?? null,
        direction: input.direction ?? null,
        contentType: input.contentType,
        size: received.size,
        sha256: received.sha256,
        createdAt: receivedAt,
        expiresAt: addDuration(receivedAt, retention),
        spoolFile: received.file,
        spoolBytes: received.spoolBytes,
      });
      if (input.idempotencyKey) {
        const prior = await claimIdempotencyKey(tx, {
          tenantId: input.tenantId,
          key: input.idempotencyKey,
          recordingId: id,
          sha256: received.sha256,
          size: received.size,
        });
        if (prior) throw new Replay(prior);
      }
      await appendAudit(tx, input.tenantId, {
        actor: input.actor,
        action: 'recording.received',
        target: `recording:${id}`,
        detail: {
          size: received.size,
          sha256: received.sha256,
          contentType: input.contentType,
          source: input.source,
        },
      });
      return inserted;
    });
  } catch (err) {
    await ctx.spool.remove(received.file);
    if (!(err instanceof Replay)) throw err;
    if (err.prior.sha256 !== received.sha256 || err.prior.size !== received.size) {
      throw conflict('This Idempotency-Key was used with different bytes.', 'IDEMPOTENCY_CONFLICT');
    }
    const first = await getRecording(db, err.prior.recording_id);
    return { status: 200, view: recordingView(first!) };
  }

  ctx.metrics.received.inc({ source: input.source });
  // Best effort: with Redis down the row is the truth and the reconciler enqueues it.
  await ctx.producer
    .enqueueTransfer({ v: 1, recordingId: id, tenantId: input.tenantId })
    .catch((err: Error) => {
      ctx.log.warn({ recordingId: id, err: err.message }, 'transfer not enqueued; the reconciler will');
    });
  return { status: 202, view: recordingView(row) };
}
