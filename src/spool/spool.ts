import { constants } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { KeyringNode } from '@aws-crypto/material-management-node';
import {
  createEncryptStream,
  type EncryptionContext,
  fileSource,
  type OpenedMessage,
  openMessage,
} from '../crypto/index.js';
import { syncDir } from '../util/create-once.js';
import { fileSink } from '../util/file-sink.js';
import { Meter } from './meter.js';

export interface Received {
  /** Relative to the spool directory (the row stores this, so the directory can move). */
  file: string;
  size: number;
  sha256: string;
  /** Encrypted size on disk, counted against the tenant's spool quota. */
  spoolBytes: number;
}

export interface ReceiveOptions {
  /** Largest plaintext accepted; passing it aborts the upload with `onLimit()`'s error. */
  limit: number;
  onLimit: () => Error;
}

/**
 * Where recordings wait for transfer. Every file is an ESDK message under the service's
 * spool key (a fresh data key per file), so the vendor keeps no plaintext at rest even
 * while a tenant's own key is unavailable for weeks.
 */
export class Spool {
  constructor(
    readonly dir: string,
    private readonly keyring: KeyringNode,
  ) {}

  static contextFor(tenantId: string, recordingId: string): EncryptionContext {
    return { 'custody:tenant': tenantId, 'custody:recording': recordingId, 'custody:spool': 'v1' };
  }

  resolve(file: string): string {
    const full = path.resolve(this.dir, file);
    if (!full.startsWith(this.dir + path.sep)) throw new Error('spool path escapes the spool directory');
    return full;
  }

  /**
   * Streams `body` into an encrypted spool file, hashing the plaintext on the way, and
   * makes it durable (fsync of file and directory) before returning. On any failure,
   * including the client going away, nothing is left behind.
   */
  async receive(
    tenantId: string,
    recordingId: string,
    body: Readable,
    opts: ReceiveOptions,
  ): Promise<Received> {
    const file = path.join(tenantId, `${recordingId}.spool`);
    const final = this.resolve(file);
    const incoming = `${final}.incoming`;
    await mkdir(path.dirname(final), { recursive: true, mode: 0o700 });
    const meter = new Meter(opts.limit, opts.onLimit);
    const encrypt = await createEncryptStream({
      keyring: this.keyring,
      context: Spool.contextFor(tenantId, recordingId),
    });
    const handle = await open(incoming, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
    const input = detach(body);
    try {
      await pipeline(input, meter, encrypt, fileSink(handle));
      const { size: spoolBytes } = await handle.stat();
      await handle.close();
      await rename(incoming, final);
      await syncDir(path.dirname(final));
      return { file, size: meter.bytes, sha256: meter.digest(), spoolBytes };
    } catch (err) {
      // Keep the socket alive to answer (413, 429): stop writing, discard the rest.
      body.unpipe(input);
      body.resume();
      await handle.close().catch(() => {});
      await unlink(incoming).catch(() => {});
      throw err;
    }
  }

  /** Opens a spooled recording for reading; the header must name this tenant and recording. */
  async open(file: string, tenantId: string, recordingId: string): Promise<OpenedMessage> {
    const source = await fileSource(this.resolve(file));
    return openMessage(source, {
      keyring: this.keyring,
      expectedContext: Spool.contextFor(tenantId, recordingId),
    });
  }

  /** Idempotent. */
  async remove(file: string): Promise<void> {
    try {
      await unlink(this.resolve(file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/** The client went away before sending the whole body. */
export class ClientAbortedError extends Error {
  constructor() {
    super('client disconnected before the upload completed');
    this.name = 'ClientAbortedError';
  }
}

/**
 * Feeds `body` through a PassThrough so that a failing pipeline does not destroy the
 * request itself (the response still has to be sent), while a client disconnect still
 * fails the pipeline.
 */
function detach(body: Readable): PassThrough {
  const pass = new PassThrough({ highWaterMark: 1024 * 1024 });
  const onClose = () => {
    if (!body.readableEnded) pass.destroy(new ClientAbortedError());
  };
  body.once('close', onClose);
  body.once('error', (err) => pass.destroy(err));
  pass.once('close', () => body.off('close', onClose));
  body.pipe(pass);
  return pass;
}
