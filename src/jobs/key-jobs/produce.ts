import { createHash } from 'node:crypto';
import { PassThrough, Readable, Transform } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { Context } from '../../context.js';
import { type CiphertextSource, ciphertextLength, createEncryptStream } from '../../crypto/index.js';
import { readHeader } from '../../crypto/decrypt.js';
import { decodeHeader } from '../../crypto/header.js';
import { rewrapMessage } from '../../crypto/rewrap.js';
import { CapturingKeyring } from '../../crypto/shared-materials.js';
import type { RecordingRow } from '../../db/recordings.js';
import { metadataDocument } from '../../domain/recordings/metadata-document.js';
import { encodeSidecar, type SidecarObject } from '../../domain/recordings/metadata-sidecar.js';
import { objectContext, openStoredRecording } from '../../domain/recordings/open-stored.js';
import { WAV_HEAD_BYTES } from '../../domain/recordings/wav.js';
import type { ResolvedStorage } from '../../domain/storage/resolver.js';
import { IntegrityError } from '../../errors.js';
import type { ObjectInfo, Splice } from '../../storage/storage-target.js';

/**
 * The new object of a recording, as a stream: `copy` (same key: the stored bytes as they
 * are), `rewrap` (new header, the same frames) or `reencrypt` (decrypted and encrypted
 * again under a fresh data key). Every mode streams: memory stays at a few frames (and
 * the S3 upload's parts) whatever the recording's size.
 *
 * Copy and rewrap keep every frame byte as it is, so they also describe themselves as a
 * `splice` (new head + the source from an offset): where the target store can copy
 * server-side (S3 UploadPartCopy between versions of the same principal, see
 * `s3-splice.ts`), `putObject` lets it, and the stream is never read. Everywhere else
 * (another store, s3rver, Azure, local) the stream is the way.
 *
 * The metadata sidecar moves with the audio: a plaintext one is copied as it is; an
 * encrypted one shares the audio's data key, so `copy` copies it, `rewrap` rewrites its
 * header in the same unwrap and wrap as the audio's (still one key call each way), and
 * `reencrypt` writes a fresh one under the new audio's materials.
 */
export type RelocationMode = 'copy' | 'rewrap' | 'reencrypt';

export interface NewObject {
  body: Readable;
  /** Exact byte length (the put checks it). */
  size: number;
  /** The message id the new header must carry (verification reads it back). */
  messageId: Buffer;
  /** Settles when the producing side is done; rejects with its error (a re-encryption's plaintext hash too). */
  done: Promise<void>;
  /** The sidecar to write beside the new object (called after `done`), when the old object had one. */
  sidecar?: () => Promise<SidecarObject>;
  /** Zeroes what was kept for the sidecar (a re-encryption's captured data key); call when finished. */
  dispose(): void;
  /** Copy and rewrap: the same object as `head` + the source's bytes from `offset` (see `putObject`). */
  splice?: Splice;
}

const noop = () => {};

/** The recording's stored object as random-access ciphertext. */
export function storedSource(storage: ResolvedStorage, r: RecordingRow): CiphertextSource {
  const key = r.object_key!;
  return { size: r.object_size!, read: (range) => storage.target.get(key, { range }) };
}

export async function produceObject(
  ctx: Context,
  mode: RelocationMode,
  r: RecordingRow,
  from: ResolvedStorage,
  to: ResolvedStorage,
  sidecar?: SidecarObject,
): Promise<NewObject> {
  const source = storedSource(from, r);
  // As it is: a plaintext sidecar whatever the mode, any sidecar when the bytes are copied.
  const asIs = sidecar && (mode === 'copy' || !sidecar.encrypted) ? async () => sidecar : undefined;
  const splice = (head: Buffer, offset: number): Splice => ({
    head,
    source: from.target,
    sourceKey: r.object_key!,
    offset,
    sourceSize: source.size,
  });
  if (mode === 'copy') {
    const { header } = await readHeader(source);
    // Opened on first read: a server-side splice never reads it.
    const body = lazily(() => from.target.get(r.object_key!));
    const messageId = Buffer.from(header.messageId);
    return {
      body,
      size: source.size,
      messageId,
      done: finished(body),
      sidecar: asIs,
      dispose: noop,
      splice: splice(Buffer.alloc(0), 0),
    };
  }
  if (mode === 'rewrap') {
    const companion = sidecar?.encrypted ? sidecarHeader(sidecar.bytes) : undefined;
    const out = await rewrapMessage(source, {
      from: from.keys.keyring(),
      to: to.keys.keyring(),
      expectedContext: objectContext(r.tenant_id, r.id),
      companions: companion ? [companion] : [],
    });
    const body = out.stream();
    const rewrapped = companion
      ? async () => ({
          encrypted: true,
          bytes: Buffer.concat([out.companionHeaders[0]!, sidecar!.bytes.subarray(companion.headerLength)]),
        })
      : asIs;
    return {
      body,
      size: out.size,
      messageId: out.info.messageId,
      done: finished(body),
      sidecar: rewrapped,
      dispose: noop,
      splice: splice(out.header, out.bodyOffset),
    };
  }
  return reencrypt(ctx, r, to, sidecar);
}

/** A stream whose source is opened only when it is first read. */
function lazily(open: () => Promise<Readable>): Readable {
  return Readable.from(
    (async function* () {
      yield* await open();
    })(),
    { objectMode: false },
  );
}

function sidecarHeader(bytes: Buffer) {
  const parsed = decodeHeader(bytes);
  if (!parsed) throw new IntegrityError('the metadata sidecar is truncated');
  return parsed;
}

/** Decrypts (every frame authenticated) and encrypts under a fresh data key; the plaintext must hash to the recorded SHA-256. */
async function reencrypt(
  ctx: Context,
  r: RecordingRow,
  to: ResolvedStorage,
  sidecar: SidecarObject | undefined,
): Promise<NewObject> {
  const opened = await openStoredRecording(ctx, r);
  // A fresh encrypted sidecar shares the new data key: capture it as the audio's is wrapped.
  const capture = sidecar?.encrypted ? new CapturingKeyring(to.keys.keyring()) : undefined;
  let encrypt: Awaited<ReturnType<typeof createEncryptStream>>;
  try {
    encrypt = await createEncryptStream({
      keyring: capture ?? to.keys.keyring(),
      context: objectContext(r.tenant_id, r.id),
    });
  } catch (err) {
    capture?.dispose();
    throw err;
  }
  const hash = createHash('sha256');
  let seen = 0;
  const head: Buffer[] = [];
  let headBytes = 0;
  const check = new Transform({
    transform(chunk: Buffer, _enc, next) {
      hash.update(chunk);
      if (capture && headBytes < WAV_HEAD_BYTES) {
        const part = Buffer.from(chunk.subarray(0, WAV_HEAD_BYTES - headBytes));
        head.push(part);
        headBytes += part.length;
      }
      seen += chunk.length;
      next(null, chunk);
    },
  });
  const body = new PassThrough({ highWaterMark: 1024 * 1024 });
  const done = pipeline(opened.stream(), check, encrypt, body).then(() => {
    if (seen !== r.size || hash.digest('hex') !== r.sha256) {
      throw new IntegrityError('the decrypted recording does not match its recorded SHA-256');
    }
  });
  const fresh = async (): Promise<SidecarObject> => {
    const start = Buffer.concat(head);
    const doc = metadataDocument(r, r.stored_at ?? new Date(), start);
    start.fill(0);
    return encodeSidecar(doc, capture!.materials());
  };
  return {
    body,
    size: ciphertextLength(encrypt.headerLength, encrypt.frameLength, r.size),
    messageId: encrypt.messageId,
    done,
    sidecar: capture ? fresh : sidecar ? async () => sidecar : undefined,
    dispose() {
      capture?.dispose();
      for (const part of head) part.fill(0);
    },
  };
}

/**
 * Puts the new object: server-side where the target can splice it, else streamed, waiting
 * for both sides; the side that failed first holds the root cause (as in the transfer job).
 */
export async function putObject(
  to: ResolvedStorage,
  key: string,
  r: RecordingRow,
  obj: NewObject,
  signal?: AbortSignal,
): Promise<ObjectInfo> {
  const options = {
    contentLength: obj.size,
    contentType: 'application/vnd.custody.esdk',
    metadata: { 'custody-recording': r.id, 'custody-format': 'esdk-v2-0478' },
    signal,
    // On a WORM target the new object is retained and held as the recording is.
    retainUntil: r.expires_at,
    legalHold: r.legal_hold,
  };
  if (obj.splice && to.target.putSpliced) {
    const info = await to.target.putSpliced(key, obj.splice, options);
    if (info) {
      // The stream was never read: release it (its `done` then reports a premature close).
      obj.done.catch(noop);
      obj.body.destroy();
      return info;
    }
  }
  let failedFirst: 'read' | 'put' | undefined;
  const producing = obj.done.catch((err: unknown) => {
    failedFirst ??= 'read';
    obj.body.destroy(err as Error);
    throw err;
  });
  const putting = to.target.put(key, obj.body, options).catch((err: unknown) => {
    // Nobody reads the body any more: release the source (and stop the producer).
    failedFirst ??= 'put';
    obj.body.destroy();
    throw err;
  });
  const [read, put] = await Promise.allSettled([producing, putting]);
  if (read.status === 'rejected' && (failedFirst === 'read' || put.status === 'fulfilled')) throw read.reason;
  if (put.status === 'rejected') throw put.reason;
  return put.value;
}
