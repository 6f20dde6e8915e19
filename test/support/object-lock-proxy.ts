import type http from 'node:http';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type Answer, storeError } from './fault-proxy.js';
import { header, InterceptingProxy, send, splitPath } from './intercepting-proxy.js';
import type { S3rverHandle } from './s3rver.js';

export type ObjectLockMode = 'GOVERNANCE' | 'COMPLIANCE';

/** The Object Lock state of one object (its current version). */
export interface ObjectLock {
  mode?: ObjectLockMode;
  retainUntil?: Date;
  legalHold: boolean;
}

/** A locked version S3 keeps after a delete (or an overwrite) took the object out of view. */
export interface RetainedVersion extends ObjectLock {
  bucket: string;
  key: string;
  /** The version's bytes, as they were when it left view. */
  bytes: Buffer;
  reason: 'deleted' | 'overwritten';
}

export interface ObjectLockProxyOptions {
  /** Whether the buckets behind the proxy have Object Lock enabled. */
  objectLock: boolean;
  /**
   * Refuse a write carrying Object Lock parameters without Content-MD5 or an
   * `x-amz-checksum-*` header or trailer, as S3 does (400 InvalidRequest). @defaultValue true
   */
  requireChecksum?: boolean;
}

/**
 * s3rver with S3 Object Lock (WORM) in front of it, with real state, for end-to-end tests
 * of what a WORM registration sends. s3rver ignores the Object Lock headers and has none
 * of its sub-resources, so the proxy keeps, per bucket and key:
 * - the lock a write was made with: PutObject's `x-amz-object-lock-mode`,
 *   `x-amz-object-lock-retain-until-date` and `x-amz-object-lock-legal-hold` headers (the
 *   write goes on to s3rver with its headers intact; the state is kept once it answers
 *   200), and CreateMultipartUpload's, kept by upload and applied when
 *   CompleteMultipartUpload succeeds (dropped on abort);
 * - PutObjectLegalHold (`PUT /<bucket>/<key>?legal-hold`, 404 NoSuchKey for a missing
 *   object), GetObjectLegalHold and GetObjectRetention answered from that state;
 * - GetObjectLockConfiguration (`GET /<bucket>?object-lock`): `Enabled`, or for a proxy
 *   without Object Lock 404 ObjectLockConfigurationNotFoundError, as S3 answers; there,
 *   writes with lock headers and the legal-hold and retention calls get 400
 *   InvalidRequest, as on S3;
 * - S3's rule that a write with lock parameters carries an integrity header (see
 *   `requireChecksum`; parts of a locked multipart upload too);
 * - what a versioned Object Lock bucket does to a DELETE without a version id (or an
 *   overwrite) of an object that is retained (retain-until in the future) or held: the
 *   object leaves view, but its locked version stays. The proxy fetches its bytes from
 *   s3rver first and lists it in `retainedVersions`. Unlocked objects are simply deleted.
 *
 * Not emulated: real versioning (no version ids, no listing of versions, no delete
 * markers, no GET by version; s3rver keeps only the current object); PutObjectRetention,
 * PutObjectLockConfiguration and DeleteObjects (answered 501 NotImplemented so nothing
 * bypasses the state unnoticed); bucket default retention; the lock headers S3 adds to
 * HeadObject and GetObject responses; GOVERNANCE bypass and COMPLIANCE's refusal of it
 * (without version ids no request can target a locked version, so both modes behave the
 * same here); CopyObject's lock (a copy is a write like PutObject, lock headers and all).
 */
export class ObjectLockProxy extends InterceptingProxy {
  /** Locked versions that left view (deleted or overwritten), oldest first. */
  readonly retainedVersions: RetainedVersion[] = [];
  readonly #locks = new Map<string, ObjectLock>();
  readonly #uploads = new Map<string, { bucket: string; key: string; lock: ObjectLock | undefined }>();
  readonly #busy = new Map<string, Promise<void>>();
  readonly #client: S3Client;
  readonly #enabled: boolean;
  readonly #requireChecksum: boolean;

  constructor(s3: S3rverHandle, options: ObjectLockProxyOptions) {
    super(s3.endpoint, 's3');
    this.#client = s3.client();
    this.#enabled = options.objectLock;
    this.#requireChecksum = options.requireChecksum ?? true;
  }

  /** The lock state of the object now in view at `bucket`/`key`, if it was written with one. */
  lockOf(bucket: string, key: string): ObjectLock | undefined {
    const lock = this.#locks.get(idOf(bucket, key));
    return lock && { ...lock };
  }

  protected override intercept(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const [bucket, key] = splitPath(decodeURIComponent(url.pathname));
    const q = url.searchParams;
    // `has` matches both `?legal-hold` and `?legal-hold=`: SDK v3 sends sub-resources with an
    // empty value (`/<bucket>/?object-lock=`, `…?legal-hold=`), other clients without one.
    let work: Promise<void> | undefined;
    if (key === '') {
      if (q.has('object-lock')) work = this.#bucketLock(req, res);
      else if (req.method === 'POST' && q.has('delete')) {
        return this.answerWith(req, res, s3Error(501, 'NotImplemented'));
      }
    } else if (q.has('legal-hold') || q.has('retention')) {
      work = this.#subresource(req, res, bucket, key, q.has('legal-hold') ? 'legal-hold' : 'retention');
    } else if (req.method === 'PUT' && q.has('uploadId')) {
      work = this.#uploadPart(req, res, q.get('uploadId')!);
    } else if (req.method === 'PUT') {
      work = this.#write(req, res, bucket, key);
    } else if (req.method === 'POST' && q.has('uploads')) {
      work = this.#createUpload(req, res, bucket, key);
    } else if (req.method === 'POST' && q.has('uploadId')) {
      work = this.#completeUpload(req, res, q.get('uploadId')!);
    } else if (req.method === 'DELETE' && q.has('uploadId')) {
      this.#uploads.delete(q.get('uploadId')!);
    } else if (req.method === 'DELETE') {
      work = this.#delete(req, res, bucket, key);
    }
    return work !== undefined && this.settle(req, res, work);
  }

  async #bucketLock(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    req.resume();
    if (req.method !== 'GET') return send(res, s3Error(501, 'NotImplemented'));
    if (!this.#enabled) return send(res, s3Error(404, 'ObjectLockConfigurationNotFoundError'));
    return send(res, {
      status: 200,
      headers: { 'content-type': 'application/xml' },
      body: xml(
        '<ObjectLockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>',
      ),
    });
  }

  async #subresource(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    bucket: string,
    key: string,
    which: 'legal-hold' | 'retention',
  ): Promise<void> {
    const body = Buffer.concat(await req.toArray()).toString('utf8');
    if (!this.#enabled)
      return send(res, s3Error(400, 'InvalidRequest', 'Bucket is missing Object Lock Configuration'));
    const id = idOf(bucket, key);
    if (req.method === 'PUT' && which === 'legal-hold') {
      const status = /<Status>\s*(ON|OFF)\s*<\/Status>/.exec(body)?.[1];
      if (!status) return send(res, s3Error(400, 'MalformedXML'));
      const found = await this.#serially(id, async () => {
        if (!(await this.#exists(bucket, key))) return false;
        this.#locks.set(id, { ...(this.#locks.get(id) ?? { legalHold: false }), legalHold: status === 'ON' });
        return true;
      });
      return send(res, found ? { status: 200, headers: {}, body: '' } : s3Error(404, 'NoSuchKey'));
    }
    if (!(await this.#exists(bucket, key))) return send(res, s3Error(404, 'NoSuchKey'));
    const lock = this.#locks.get(id) ?? { legalHold: false };
    if (req.method !== 'GET') return send(res, s3Error(501, 'NotImplemented'));
    if (which === 'legal-hold') {
      return send(res, okXml(`<LegalHold><Status>${lock.legalHold ? 'ON' : 'OFF'}</Status></LegalHold>`));
    }
    if (!lock.mode || !lock.retainUntil) return send(res, s3Error(404, 'NoSuchObjectLockConfiguration'));
    return send(
      res,
      okXml(
        `<Retention><Mode>${lock.mode}</Mode><RetainUntilDate>${lock.retainUntil.toISOString()}</RetainUntilDate></Retention>`,
      ),
    );
  }

  /** PutObject (or CopyObject): the lock its headers ask for; a locked object it replaces stays. */
  async #write(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    bucket: string,
    key: string,
  ): Promise<void> {
    const copy = req.headers['x-amz-copy-source'] !== undefined;
    const lock = this.#lockHeaders(req, !copy);
    if ('refused' in lock) {
      req.resume();
      return send(res, lock.refused);
    }
    await this.#retireIfLocked(bucket, key, 'overwritten', lock.lock, async () => {
      const status = await this.forward(req, res);
      return status === 200;
    });
  }

  async #createUpload(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    bucket: string,
    key: string,
  ): Promise<void> {
    const lock = this.#lockHeaders(req, false);
    if ('refused' in lock) {
      req.resume();
      return send(res, lock.refused);
    }
    const up = await this.#forwardBuffered(req);
    const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(up.body.toString('utf8'))?.[1];
    if (up.status === 200 && uploadId) this.#uploads.set(uploadId, { bucket, key, lock: lock.lock });
    return send(res, up);
  }

  /** UploadPart(Copy): a part of a locked upload needs an integrity header too (a copied part does not). */
  async #uploadPart(req: http.IncomingMessage, res: http.ServerResponse, uploadId: string): Promise<void> {
    const upload = this.#uploads.get(uploadId);
    const copy = req.headers['x-amz-copy-source'] !== undefined;
    if (upload?.lock && !copy && this.#requireChecksum && !hasChecksum(req)) {
      req.resume();
      return send(res, missingChecksum());
    }
    await this.forward(req, res);
  }

  async #completeUpload(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    uploadId: string,
  ): Promise<void> {
    const upload = this.#uploads.get(uploadId);
    if (!upload) {
      await this.forward(req, res);
      return;
    }
    await this.#retireIfLocked(upload.bucket, upload.key, 'overwritten', upload.lock, async () => {
      const up = await this.#forwardBuffered(req);
      send(res, up);
      // S3 may answer 200 with an error document for CompleteMultipartUpload.
      const ok = up.status === 200 && !up.body.toString('utf8').includes('<Error>');
      if (ok) this.#uploads.delete(uploadId);
      return ok;
    });
  }

  async #delete(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    bucket: string,
    key: string,
  ): Promise<void> {
    await this.#retireIfLocked(bucket, key, 'deleted', undefined, async () => {
      const status = await this.forward(req, res);
      return status >= 200 && status < 300;
    });
  }

  /**
   * Runs `change` (a forwarded write or delete that replaces or removes the object in view);
   * if it succeeds, a locked object it replaced stays in `retainedVersions` with the bytes
   * it had, and the key's state becomes `next` (none: an unlocked object, or none at all).
   */
  async #retireIfLocked(
    bucket: string,
    key: string,
    reason: RetainedVersion['reason'],
    next: ObjectLock | undefined,
    change: () => Promise<boolean>,
  ): Promise<void> {
    const id = idOf(bucket, key);
    await this.#serially(id, async () => {
      const current = this.#locks.get(id);
      const bytes = current && isLocked(current) ? await this.#bytesOf(bucket, key) : undefined;
      if (!(await change())) return;
      if (current && bytes) this.retainedVersions.push({ bucket, key, ...current, bytes, reason });
      if (next) this.#locks.set(id, next);
      else this.#locks.delete(id);
    });
  }

  /**
   * Runs the changes of one key one after the other: two deletes at once (Custody may
   * repeat one) must not both see the locked version and keep it twice.
   */
  async #serially<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.#busy.get(id) ?? Promise.resolve()).then(fn);
    const tail = run.then(
      () => {},
      () => {},
    );
    this.#busy.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.#busy.get(id) === tail) this.#busy.delete(id);
    }
  }

  /**
   * Reads and checks a write's lock headers. As S3: mode and retain-until come together,
   * the date in the future; none of them on a bucket without Object Lock; with any of them,
   * an integrity header (`checked`: the body is uploaded with this request).
   */
  #lockHeaders(
    req: http.IncomingMessage,
    checked: boolean,
  ): { lock: ObjectLock | undefined } | { refused: Answer } {
    const mode = header(req.headers, 'x-amz-object-lock-mode');
    const until = header(req.headers, 'x-amz-object-lock-retain-until-date');
    const hold = header(req.headers, 'x-amz-object-lock-legal-hold');
    if (mode === undefined && until === undefined && hold === undefined) return { lock: undefined };
    if (!this.#enabled)
      return { refused: s3Error(400, 'InvalidRequest', 'Bucket is missing Object Lock Configuration') };
    if ((mode === undefined) !== (until === undefined)) {
      return {
        refused: s3Error(
          400,
          'InvalidArgument',
          'x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied',
        ),
      };
    }
    if (mode !== undefined && mode !== 'GOVERNANCE' && mode !== 'COMPLIANCE') {
      return { refused: s3Error(400, 'InvalidArgument', 'Unknown wormMode directive.') };
    }
    const retainUntil = until === undefined ? undefined : new Date(until);
    if (retainUntil && !(retainUntil.getTime() > Date.now())) {
      return { refused: s3Error(400, 'InvalidArgument', 'The retain until date must be in the future!') };
    }
    if (hold !== undefined && hold !== 'ON' && hold !== 'OFF') {
      return { refused: s3Error(400, 'InvalidArgument', 'Legal Hold must be either of ON or OFF') };
    }
    if (checked && this.#requireChecksum && !hasChecksum(req)) return { refused: missingChecksum() };
    return {
      lock: {
        ...(mode ? { mode: mode as ObjectLockMode, retainUntil: retainUntil! } : {}),
        legalHold: hold === 'ON',
      },
    };
  }

  async #exists(bucket: string, key: string): Promise<boolean> {
    try {
      await this.#client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404)
        return false;
      throw err;
    }
  }

  async #bytesOf(bucket: string, key: string): Promise<Buffer | undefined> {
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
      throw err;
    }
  }

  /** Forwards the request to s3rver and reads its whole (small, XML) answer. */
  #forwardBuffered(req: http.IncomingMessage): Promise<Answer & { body: Buffer }> {
    return this.exchange(req.method ?? 'GET', req.url ?? '/', req.headers, req);
  }
}

const isLocked = (lock: ObjectLock) =>
  lock.legalHold || (lock.retainUntil !== undefined && lock.retainUntil.getTime() > Date.now());

/** Content-MD5, or a flexible checksum in a header or announced as a trailer. */
function hasChecksum(req: http.IncomingMessage): boolean {
  if (req.headers['content-md5']) return true;
  if (Object.keys(req.headers).some((h) => h.startsWith('x-amz-checksum-') && h !== 'x-amz-checksum-type')) {
    return true;
  }
  return header(req.headers, 'x-amz-trailer')?.startsWith('x-amz-checksum-') ?? false;
}

const missingChecksum = () =>
  s3Error(
    400,
    'InvalidRequest',
    'Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters',
  );

const idOf = (bucket: string, key: string) => `${bucket}/${key}`;

const xml = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>${body}`;

const okXml = (body: string): Answer => ({
  status: 200,
  headers: { 'content-type': 'application/xml' },
  body: xml(body),
});

const s3Error = (status: number, code: string, message?: string) => storeError('s3', status, code, message);
