import { createHash } from 'node:crypto';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Context } from '../context.js';
import { ciphertextLength, createEncryptStream, type OpenedMessage, parseHeader } from '../crypto/index.js';
import { CapturingKeyring } from '../crypto/shared-materials.js';
import { transaction } from '../db/pool.js';
import {
  claimForTransfer,
  clearSpool,
  getForTransfer,
  getRecording,
  lockRecording,
  markStored,
  type RecordingRow,
  type TransferRow,
} from '../db/recordings.js';
import { appendAudit } from '../domain/audit.js';
import { metadataDocument } from '../domain/recordings/metadata-document.js';
import {
  encodeSidecar,
  putSidecar,
  removeSidecars,
  setStoredLegalHold,
} from '../domain/recordings/metadata-sidecar.js';
import { objectContext } from '../domain/recordings/open-stored.js';
import { WAV_HEAD_BYTES } from '../domain/recordings/wav.js';
import type { ResolvedStorage } from '../domain/storage/resolver.js';
import { IntegrityError, StorageError } from '../errors.js';
import type { TransferJob } from '../queue/payloads.js';
import { objectKeyFor } from '../storage/object-key.js';
import { crashPoint } from './crash-point.js';
import { pausedByKeyHealth } from './key-health.js';
import { block, fail, tenantFixable } from './outcomes.js';

/** Crash points used by the crash-safety tests. */
export const CRASH = {
  midUpload: 'transfer:mid-upload',
  afterStore: 'transfer:after-store-before-mark',
} as const;

/**
 * Spool → encrypt under the tenant's key → put → verify → mark stored → drop the spool
 * copy. Every step is idempotent: a crash or a duplicate job re-runs from the row's
 * state and ends with one object and one stored row. Transient errors throw (the queue
 * retries with backoff); tenant-fixable ones block; only a lost or corrupt spool fails.
 */
export async function transferRecording(ctx: Context, job: TransferJob): Promise<void> {
  const r = await getForTransfer(ctx.db, job.recordingId);
  if (!r || r.status === 'failed') return;
  if (r.status === 'stored') return dropSpool(ctx, r);
  if (r.status === 'deleting' || r.status === 'deleted') return; // the delete job removes every copy

  const version = r.active_storage_version;
  if (!version) {
    return block(ctx, r, { code: 'NO_STORAGE', message: 'The tenant has not registered storage yet.' });
  }
  // The key-health check found the tenant's key unusable: block now, no key call per recording.
  if (await pausedByKeyHealth(ctx, r, version)) return;
  if (r.storage_version !== null && r.storage_version !== version && r.object_key) {
    // The tenant switched storage while this one waited: drop any partial upload on the old one.
    await ctx.storage
      .resolve(r.tenant_id, r.storage_version)
      .then(async (old) => {
        await old.target.delete(r.object_key!);
        await removeSidecars(old.target, r.object_key!);
      })
      .catch(() => {});
  }
  const claimed = await claimForTransfer(ctx.db, r.id, {
    storageVersion: version,
    objectKey: objectKeyFor(r.id, r.created_at),
  });
  if (!claimed) return;
  const started = performance.now();
  try {
    await deliver(ctx, claimed, await ctx.storage.resolve(r.tenant_id, version), r.metadata_sidecar);
    ctx.metrics.transferDuration.observe((performance.now() - started) / 1000);
  } catch (err) {
    const fixable = tenantFixable(err);
    if (!fixable) throw err;
    await block(ctx, claimed, fixable);
  }
}

async function deliver(
  ctx: Context,
  r: RecordingRow,
  storage: ResolvedStorage,
  sidecar: TransferRow['metadata_sidecar'],
): Promise<void> {
  const spooled = await openSpool(ctx, r);
  if (!spooled) return;
  // The encrypted sidecar reuses the audio's data key and EDKs: the capture holds a copy
  // of the key until the sidecar is written, and is zeroed however this ends.
  const capture = sidecar === 'encrypted' ? new CapturingKeyring(storage.keys.keyring()) : undefined;
  try {
    await deliverSpooled(ctx, r, storage, spooled, sidecar, capture);
  } finally {
    capture?.dispose();
  }
}

async function deliverSpooled(
  ctx: Context,
  r: RecordingRow,
  storage: ResolvedStorage,
  spooled: OpenedMessage,
  sidecar: TransferRow['metadata_sidecar'],
  capture: CapturingKeyring | undefined,
): Promise<void> {
  const key = r.object_key!;
  const encrypt = await createEncryptStream({
    keyring: capture ?? storage.keys.keyring(),
    context: objectContext(r.tenant_id, r.id),
  });
  const expectedSize = ciphertextLength(encrypt.headerLength, encrypt.frameLength, r.size);
  const hash = createHash('sha256');
  let seen = 0;
  // The first plaintext bytes, for the sidecar's WAV duration: no second pass over the audio.
  const head: Buffer[] = [];
  let headBytes = 0;
  const check = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      if (headBytes < WAV_HEAD_BYTES) {
        const part = Buffer.from(chunk.subarray(0, WAV_HEAD_BYTES - headBytes));
        head.push(part);
        headBytes += part.length;
      }
      seen += chunk.length;
      if (seen > r.size / 2 && seen - chunk.length <= r.size / 2)
        crashPoint(ctx.config.crashAt, CRASH.midUpload);
      done(null, chunk);
    },
  });
  const body = new PassThrough({ highWaterMark: 1024 * 1024 });
  let failedFirst: 'read' | 'put' | undefined;
  const encrypting = pipeline(spooled.stream(), check, encrypt, body).catch((err: Error) => {
    failedFirst ??= 'read';
    body.destroy(err);
    throw err;
  });
  const putting = storage.target
    .put(key, body, {
      contentLength: expectedSize,
      contentType: 'application/vnd.custody.esdk',
      metadata: { 'custody-recording': r.id, 'custody-format': 'esdk-v2-0478' },
      // A WORM target keeps the object until the recording expires (others ignore both).
      retainUntil: r.expires_at,
      legalHold: r.legal_hold,
    })
    .catch((err: unknown) => {
      // Nobody reads the body any more: without this the encrypting side waits on
      // backpressure forever (e.g. a missing bucket refused before the first byte).
      failedFirst ??= 'put';
      body.destroy();
      throw err;
    });
  // Wait for both sides; the side that failed first holds the root cause.
  const [read, put] = await Promise.allSettled([encrypting, putting]);
  if (read.status === 'rejected' && (failedFirst === 'read' || put.status === 'fulfilled')) throw read.reason;
  if (put.status === 'rejected') throw put.reason;
  const info = put.value;
  if (hash.digest('hex') !== r.sha256 || seen !== r.size) {
    await storage.target.delete(key);
    return fail(ctx, r, {
      code: 'SPOOL_CORRUPT',
      message: 'The spooled copy does not match what was received.',
    });
  }
  await verifyStored(storage, key, { size: expectedSize, checksum: info.checksum }, encrypt.messageId, r);
  ctx.metrics.bytesEncrypted.inc(r.size);
  // The sidecar, after the audio is verified and before the row says stored: a crash in
  // between re-runs the transfer, whose puts overwrite both. Its failures are the audio's
  // (thrown: retried, or blocked when the tenant must fix something).
  const storedAt = new Date();
  const start = Buffer.concat(head);
  for (const part of head) part.fill(0);
  const doc = metadataDocument(r, storedAt, start);
  start.fill(0);
  if (sidecar !== 'off')
    await putSidecar(storage.target, key, r.id, await encodeSidecar(doc, capture?.materials()), undefined, {
      retainUntil: r.expires_at,
      legalHold: r.legal_hold,
    });
  crashPoint(ctx.config.crashAt, CRASH.afterStore);

  const stored = await transaction(ctx.db, async (tx) => {
    // A hold set or released since the claim was only recorded (the route touches the store
    // once a recording is stored): bring the store in line under the row lock, before the
    // row says stored, so the route and this never disagree. A failure rolls back and retries.
    const now = await lockRecording(tx, r.id);
    if (now && now.legal_hold !== r.legal_hold) await setStoredLegalHold(storage.target, key, now.legal_hold);
    const ok = await markStored(tx, r.id, {
      storageVersion: storage.version,
      objectKey: key,
      location: storage.target.locationOf(key),
      objectVersion: info.version ?? null,
      objectSize: expectedSize,
      keyId: storage.keys.keyId,
      storedAt,
    });
    if (ok) {
      await appendAudit(tx, r.tenant_id, {
        actor: 'system',
        action: 'recording.stored',
        target: `recording:${r.id}`,
        detail: { storageVersion: storage.version, keyId: storage.keys.keyId, objectSize: expectedSize },
      });
    }
    return ok;
  });
  if (!stored) {
    // Another attempt at this job (a re-run after a wiped Redis or an expired lock) stored
    // it first: the object under this same key is the recording's now; keep it.
    const now = await getRecording(ctx.db, r.id);
    if (now?.status === 'stored' && now.storage_version === storage.version && now.object_key === key) return;
    // Deleted while uploading: this upload must not outlive the deletion.
    await storage.target.delete(key);
    await removeSidecars(storage.target, key);
    return;
  }
  ctx.metrics.stored.inc();
  await dropSpool(ctx, { ...r, status: 'stored' });
}

/** The spooled copy, or undefined after marking the recording failed (lost or corrupt). */
async function openSpool(ctx: Context, r: RecordingRow): Promise<OpenedMessage | undefined> {
  if (!r.spool_file) {
    await fail(ctx, r, { code: 'SPOOL_LOST', message: 'The spooled copy is missing.' });
    return undefined;
  }
  try {
    const opened = await ctx.spool.open(r.spool_file, r.tenant_id, r.id);
    if (opened.info.plaintextLength !== r.size) throw new IntegrityError('spooled size differs');
    return opened;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      await fail(ctx, r, { code: 'SPOOL_LOST', message: 'The spooled copy is missing.' });
    else if (err instanceof IntegrityError) {
      await fail(ctx, r, { code: 'SPOOL_CORRUPT', message: 'The spooled copy failed authentication.' });
    } else throw err;
    return undefined;
  }
}

/** Size and checksum where the store keeps one; else size and a read-back of the header: ours, whole, parseable. */
async function verifyStored(
  storage: ResolvedStorage,
  key: string,
  written: { size: number; checksum: string | undefined },
  messageId: Buffer,
  r: RecordingRow,
): Promise<void> {
  const expectedSize = written.size;
  const head = await storage.target.head(key);
  if (!head || head.size !== expectedSize) {
    throw new StorageError(
      'transient',
      'VerifyFailed',
      `stored size ${head?.size ?? 'none'} != ${expectedSize}`,
    );
  }
  // Where the store keeps a checksum (S3 with flexible checksums), it must be the one
  // written, and then it proves every byte: no header read-back needed.
  if (written.checksum && head.checksum) {
    if (head.checksum !== written.checksum)
      throw new StorageError('transient', 'VerifyFailed', 'the stored checksum is not the one written');
    return;
  }
  const stream = await storage.target.get(key, {
    range: { start: 0, end: Math.min(expectedSize, 64 * 1024) - 1 },
  });
  const { info } = parseHeader(Buffer.concat(await stream.toArray()));
  const ctxOk = info.context['custody:tenant'] === r.tenant_id && info.context['custody:recording'] === r.id;
  if (!info.messageId.equals(messageId) || !ctxOk) {
    throw new StorageError('transient', 'VerifyFailed', 'the stored header is not the one written');
  }
}

/** After a verified store: remove the spooled copy, then forget it (a crash in between is re-run). */
async function dropSpool(ctx: Context, r: RecordingRow): Promise<void> {
  if (!r.spool_file) return;
  await ctx.spool.remove(r.spool_file);
  await clearSpool(ctx.db, r.id);
}
