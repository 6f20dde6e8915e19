import { createHmac, timingSafeEqual } from 'node:crypto';
import { constants } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { UnrecoverableError } from 'bullmq';
import canonicalize from 'canonicalize';
import type { Context } from '../context.js';
import { ingestRecording } from '../domain/recordings/ingest.js';
import { AppError } from '../errors.js';
import { inboundJob } from '../queue/payloads.js';

/** `hex(HMAC-SHA256(key, JCS(payload without "hmac")))`: what a producer computes. */
export function inboundSignature(key: Buffer, payload: Record<string, unknown>): string {
  const { hmac: _ignored, ...rest } = payload;
  return createHmac('sha256', key).update(canonicalize(rest)!, 'utf8').digest('hex');
}

/**
 * Takes one recording from the shared inbox into the encrypted spool. The job names
 * only a bare file name, authenticated by HMAC; the file is opened without following
 * symlinks and must be a regular file with a single link, so a producer (or anyone
 * who can write the inbox) cannot make the service read another file. The plaintext
 * inbox file is removed once the encrypted spool copy and its row are durable.
 */
export async function ingestFromInbox(ctx: Context, data: unknown): Promise<{ recordingId: string }> {
  const inbox = ctx.config.inbox;
  if (!inbox) throw new UnrecoverableError('direct queue ingest is not enabled');
  const parsed = inboundJob.safeParse(data);
  if (!parsed.success) throw new UnrecoverableError('inbound job does not match schema v1');
  const job = parsed.data;
  const expected = Buffer.from(inboundSignature(inbox.hmacKey, job), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(job.hmac, 'hex')))
    throw new UnrecoverableError('inbound job HMAC mismatch');

  const file = path.join(inbox.dir, job.tenantId, job.file);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOENT') throw new UnrecoverableError(`inbox file refused (${code})`);
    throw err;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.nlink !== 1)
      throw new UnrecoverableError('inbox file must be a regular file with one link');
    const { view } = await ingestRecording(ctx, {
      tenantId: job.tenantId,
      actor: 'inbox',
      contentType: job.contentType.toLowerCase(),
      declaredLength: info.size,
      // A redelivered job must not create a second recording.
      idempotencyKey: job.idempotencyKey ?? `inbox:${job.file}`,
      callId: job.callId,
      agentId: job.agentId,
      startedAt: job.startedAt ? new Date(job.startedAt) : undefined,
      direction: job.direction,
      body: handle.createReadStream({ autoClose: false, highWaterMark: 1024 * 1024 }),
      source: 'inbox',
    });
    await unlink(file).catch(() => {});
    return { recordingId: view.id };
  } catch (err) {
    // Only a full spool (429) is worth retrying; other refusals are final.
    if (err instanceof AppError && err.status !== 429)
      throw new UnrecoverableError(`${err.code}: ${err.message}`);
    throw err;
  } finally {
    await handle.close();
  }
}
