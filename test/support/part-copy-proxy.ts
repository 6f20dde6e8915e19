import type http from 'node:http';
import { GetObjectCommand, HeadObjectCommand, type S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { type Answer, storeError } from './fault-proxy.js';
import { InterceptingProxy, splitPath } from './intercepting-proxy.js';
import type { S3rverHandle } from './s3rver.js';

/** One UploadPartCopy the proxy carried out. */
export interface PartCopy {
  source: string;
  range: string;
  partNumber: number;
}

/**
 * s3rver with the two S3 features a server-side splice needs and s3rver lacks, added in
 * front of it with real state:
 * - `UploadPartCopy` (PUT …?partNumber&uploadId with `x-amz-copy-source`): the range is
 *   read from s3rver and stored in s3rver as that part of the upload, so the completed
 *   object holds exactly what S3 would have assembled;
 * - `If-Match` on GET and `x-amz-copy-source-if-match`, answered 412 PreconditionFailed
 *   when the object's ETag differs, as S3 does.
 * Everything else goes through to s3rver untouched. `copies` lists what was copied;
 * `bytesRead` counts the object bytes clients downloaded through the proxy.
 */
export class PartCopyProxy extends InterceptingProxy {
  readonly copies: PartCopy[] = [];
  bytesRead = 0;
  readonly #client: S3Client;

  constructor(s3: S3rverHandle) {
    super(s3.endpoint, 's3');
    this.#client = s3.client();
  }

  protected override intercept(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const copySource = req.headers['x-amz-copy-source'];
    const isPartCopy =
      req.method === 'PUT' && url.searchParams.has('uploadId') && typeof copySource === 'string';
    const ifMatch = req.headers['if-match'];
    if (!isPartCopy && !(req.method === 'GET' && typeof ifMatch === 'string')) {
      if (req.method === 'GET') {
        this.countBody(res, (bytes) => {
          this.bytesRead += bytes;
        });
      }
      return false;
    }
    req.resume();
    return this.answerWith(
      req,
      res,
      isPartCopy
        ? this.#copyPart(req, url, copySource)
        : this.#conditionalGet(url, ifMatch!, req.headers.range),
    );
  }

  async #etagOf(bucket: string, key: string): Promise<string | undefined> {
    try {
      return (await this.#client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ETag;
    } catch {
      return undefined;
    }
  }

  async #conditionalGet(url: URL, ifMatch: string, range: string | undefined): Promise<Answer> {
    const [bucket, key] = splitPath(decodeURIComponent(url.pathname));
    const etag = await this.#etagOf(bucket, key);
    if (etag === undefined) return s3Error(404, 'NoSuchKey');
    if (unquote(etag) !== unquote(ifMatch)) return s3Error(412, 'PreconditionFailed');
    return this.#forwardGet(bucket, key, range);
  }

  async #forwardGet(bucket: string, key: string, range: string | undefined): Promise<Answer> {
    const out = await this.#client.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, ...(range ? { Range: range } : {}) }),
    );
    const body = Buffer.from(await out.Body!.transformToByteArray());
    this.bytesRead += body.length;
    return {
      status: range ? 206 : 200,
      headers: {
        'content-length': String(body.length),
        etag: out.ETag ?? '',
        ...(out.ContentRange ? { 'content-range': out.ContentRange } : {}),
      },
      body,
    };
  }

  async #copyPart(req: http.IncomingMessage, url: URL, copySource: string): Promise<Answer> {
    const [bucket, key] = splitPath(decodeURIComponent(url.pathname));
    const [srcBucket, srcKey] = splitPath(decodeURIComponent(copySource.split('?')[0]!));
    const etag = await this.#etagOf(srcBucket, srcKey);
    if (etag === undefined) return s3Error(404, 'NoSuchKey');
    const ifMatch = req.headers['x-amz-copy-source-if-match'];
    if (typeof ifMatch === 'string' && unquote(ifMatch) !== unquote(etag)) {
      return s3Error(412, 'PreconditionFailed');
    }
    const range = req.headers['x-amz-copy-source-range'];
    const got = await this.#client.send(
      new GetObjectCommand({
        Bucket: srcBucket,
        Key: srcKey,
        ...(typeof range === 'string' ? { Range: range } : {}),
      }),
    );
    const Body = Buffer.from(await got.Body!.transformToByteArray());
    const partNumber = Number(url.searchParams.get('partNumber'));
    const put = await this.#client.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId: url.searchParams.get('uploadId')!,
        PartNumber: partNumber,
        Body,
        ContentLength: Body.length,
      }),
    );
    this.copies.push({ source: `${srcBucket}/${srcKey}`, range: String(range), partNumber });
    const xml = `<?xml version="1.0" encoding="UTF-8"?><CopyPartResult><LastModified>${new Date().toISOString()}</LastModified><ETag>${put.ETag}</ETag></CopyPartResult>`;
    return { status: 200, headers: { 'content-type': 'application/xml' }, body: xml };
  }
}

const s3Error = (status: number, code: string) => storeError('s3', status, code);

function unquote(etag: string): string {
  return etag.replace(/^"(.*)"$/, '$1');
}
