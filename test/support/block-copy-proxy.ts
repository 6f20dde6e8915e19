import http from 'node:http';
import https from 'node:https';
import { FaultProxy } from './fault-proxy.js';

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
export class BlockCopyProxy {
  readonly copies: BlockCopy[] = [];
  bytesRead = 0;
  readonly #proxy: FaultProxy;

  /** `upstream`: Azurite's origin (`https://127.0.0.1:<port>`). */
  constructor(private readonly upstream: string) {
    this.#proxy = new FaultProxy(upstream, 'azure').intercept((req, res) => this.#intercept(req, res));
  }

  get endpoint(): string {
    return this.#proxy.endpoint;
  }

  get requests() {
    return this.#proxy.requests;
  }

  failNext(method: string, code: string, status = 403): void {
    this.#proxy.failNext(method, code, status);
  }

  async start(): Promise<this> {
    await this.#proxy.start();
    return this;
  }

  stop(): Promise<void> {
    return this.#proxy.stop();
  }

  #intercept(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const copySource = req.headers['x-ms-copy-source'];
    const isBlockCopy =
      req.method === 'PUT' && url.searchParams.get('comp') === 'block' && typeof copySource === 'string';
    if (!isBlockCopy) {
      if (req.method === 'GET') this.#countBody(res);
      return false;
    }
    req.resume();
    this.#copyBlock(req, url, copySource)
      .then(({ status, headers, body }) => {
        res.writeHead(status, headers);
        res.end(body);
      })
      .catch((err: Error) => {
        res.writeHead(500, { 'content-type': 'application/xml', 'x-ms-error-code': 'InternalError' });
        res.end(
          `<?xml version="1.0" encoding="utf-8"?><Error><Code>InternalError</Code><Message>${err.message}</Message></Error>`,
        );
      });
    return true;
  }

  #countBody(res: http.ServerResponse): void {
    const write = res.write.bind(res);
    res.write = ((chunk: Buffer | string, ...rest: never[]) => {
      this.bytesRead += Buffer.byteLength(chunk);
      return write(chunk, ...rest);
    }) as typeof res.write;
  }

  async #copyBlock(req: http.IncomingMessage, url: URL, copySource: string): Promise<Answer> {
    const source = new URL(copySource);
    const sourceAuth = String(req.headers['x-ms-copy-source-authorization'] ?? '');
    const range = String(req.headers['x-ms-source-range'] ?? '');
    // The service reads the source itself, as the principal named by the source authorization.
    const read = await this.#send('GET', `${source.pathname}${source.search}`, {
      authorization: sourceAuth,
      'x-ms-version': String(req.headers['x-ms-version']),
      'x-ms-date': new Date().toUTCString(),
      ...(range ? { 'x-ms-range': range } : {}),
    });
    if (read.status >= 300) {
      // Azure reports a refused source read as CannotVerifyCopySource, with the source's status.
      return azureError(read.status, 'CannotVerifyCopySource');
    }
    const staged = await this.#send(
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
    return { status: staged.status, headers: staged.headers, body: staged.body };
  }

  #send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: Buffer,
  ): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    const target = new URL(path, this.upstream);
    const request = target.protocol === 'https:' ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const out = request(target, { method, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const flat: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') flat[k] = v;
          resolve({ status: res.statusCode ?? 502, headers: flat, body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      });
      out.on('error', reject);
      out.end(body);
    });
  }
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer | string;
}

function azureError(status: number, code: string): Answer {
  return {
    status,
    headers: { 'content-type': 'application/xml', 'x-ms-error-code': code },
    body: `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`,
  };
}
