import type http from 'node:http';
import { type Answer, storeError } from './fault-proxy.js';
import { InterceptingProxy } from './intercepting-proxy.js';

/** One Put Block From URL the proxy carried out. */
export interface BlockCopy {
  source: string;
  range: string;
  /** The source was read with the request's `x-ms-copy-source-authorization`. */
  authorization: string;
}

/**
 * Azurite with Put Block From URL, which it answers APINotImplemented, added in front of it the
 * way the service does it: the source is read from Azurite with the request's own
 * `x-ms-copy-source-authorization` (so a principal that may not read the source gets the
 * store's refusal, as on Azure) and the bytes are staged as the named block of the
 * destination with the request's own authorization. Azurite keeps the state; everything
 * else goes through untouched. `copies` lists what was copied; `bytesRead` counts the blob
 * bytes clients downloaded through the proxy.
 */
export class BlockCopyProxy extends InterceptingProxy {
  readonly copies: BlockCopy[] = [];
  bytesRead = 0;

  /** `upstream`: Azurite's origin (`https://127.0.0.1:<port>`). */
  constructor(upstream: string) {
    super(upstream, 'azure');
  }

  protected override intercept(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const copySource = req.headers['x-ms-copy-source'];
    const isBlockCopy =
      req.method === 'PUT' && url.searchParams.get('comp') === 'block' && typeof copySource === 'string';
    if (!isBlockCopy) {
      if (req.method === 'GET') {
        this.countBody(res, (bytes) => {
          this.bytesRead += bytes;
        });
      }
      return false;
    }
    req.resume();
    return this.answerWith(req, res, this.#copyBlock(req, url, copySource));
  }

  async #copyBlock(req: http.IncomingMessage, url: URL, copySource: string): Promise<Answer> {
    const source = new URL(copySource);
    const sourceAuth = String(req.headers['x-ms-copy-source-authorization'] ?? '');
    const range = String(req.headers['x-ms-source-range'] ?? '');
    // The service reads the source itself, as the principal named by the source authorization.
    const read = await this.exchange('GET', `${source.pathname}${source.search}`, {
      authorization: sourceAuth,
      'x-ms-version': String(req.headers['x-ms-version']),
      'x-ms-date': new Date().toUTCString(),
      ...(range ? { 'x-ms-range': range } : {}),
    });
    if (read.status >= 300) {
      // Azure reports a refused source read as CannotVerifyCopySource, with the source's status.
      return storeError('azure', read.status, 'CannotVerifyCopySource');
    }
    const staged = await this.exchange(
      'PUT',
      `${url.pathname}${url.search}`,
      {
        authorization: String(req.headers.authorization ?? ''),
        'x-ms-version': String(req.headers['x-ms-version']),
        'x-ms-date': new Date().toUTCString(),
        'content-length': String(read.body.length),
      },
      read.body,
    );
    if (staged.status === 201)
      this.copies.push({ source: source.pathname, range, authorization: sourceAuth });
    return staged;
  }
}
