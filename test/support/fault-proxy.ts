import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

interface Fault {
  method: string;
  status: number;
  code: string;
}

/** How the store behind the proxy spells an error. */
export type ErrorDialect = 's3' | 'azure';

const TLS_DIR = path.resolve(import.meta.dirname, '../fixtures/tls');

/** Answers a request itself (and returns true), or leaves it to the proxy (false). */
export type Interceptor = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

/**
 * An HTTP(S) proxy in front of a local store (s3rver, Azurite) that answers chosen
 * requests with the store's own error shape (status, XML body, Azure's
 * `x-ms-error-code`): the one way to make only HEAD, or only DELETE, fail against a real
 * server. Everything else is forwarded untouched, authorization headers included.
 */
export class FaultProxy {
  readonly #faults: Fault[] = [];
  #interceptor: Interceptor | undefined;
  readonly requests: { method: string; path: string }[] = [];
  readonly #server: http.Server;
  #endpoint = '';

  constructor(
    private readonly upstream: string,
    private readonly dialect: ErrorDialect = 's3',
  ) {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      // A network round trip to a distant store, when asked for (benchmarks): the request waits.
      if (this.latencyMs > 0) setTimeout(() => this.#handle(req, res), this.latencyMs);
      else this.#handle(req, res);
    };
    this.#server = upstream.startsWith('https:')
      ? https.createServer(
          {
            cert: readFileSync(path.join(TLS_DIR, 'server.pem')),
            key: readFileSync(path.join(TLS_DIR, 'server.key')),
          },
          handler,
        )
      : http.createServer(handler);
  }

  /** The proxy's origin (same scheme as the upstream). */
  get endpoint(): string {
    return this.#endpoint;
  }

  /** The next `method` request (PUT, HEAD, GET, DELETE, POST) gets `status` with error `code`. */
  /** Milliseconds every request waits before it is handled (0: none). */
  latencyMs = 0;

  failNext(method: string, code: string, status = 403): void {
    this.#faults.push({ method, status, code });
  }

  /** Lets `interceptor` answer requests the upstream cannot (a feature it lacks). */
  intercept(interceptor: Interceptor): this {
    this.#interceptor = interceptor;
    return this;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const scheme = this.upstream.startsWith('https:') ? 'https' : 'http';
    this.#endpoint = `${scheme}://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests.push({ method: req.method ?? '', path: req.url ?? '' });
    const at = this.#faults.findIndex((f) => f.method === req.method);
    if (at >= 0) {
      const [fault] = this.#faults.splice(at, 1) as [Fault];
      req.resume();
      this.#answer(req, res, fault);
      return;
    }
    if (this.#interceptor?.(req, res)) return;
    forwardTo(this.upstream, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
  }

  #answer(req: http.IncomingMessage, res: http.ServerResponse, fault: Fault): void {
    const { status, headers, body } = storeError(this.dialect, fault.status, fault.code, 'injected');
    res.writeHead(status, headers);
    // HEAD replies carry no body, as in both stores.
    res.end(req.method === 'HEAD' ? '' : body);
  }
}

/** A whole answer the proxy (or a stand-in built on it) gives itself. */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer | string;
}

/** An error as the store spells it: status, XML body and headers (Azure's `x-ms-error-code`). */
export function storeError(dialect: ErrorDialect, status: number, code: string, message = code): Answer {
  return dialect === 's3'
    ? {
        status,
        headers: { 'content-type': 'application/xml', 'x-amz-request-id': 'proxy' },
        body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>proxy</RequestId></Error>`,
      }
    : {
        status,
        headers: { 'content-type': 'application/xml', 'x-ms-error-code': code, 'x-ms-request-id': 'proxy' },
        body: `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`,
      };
}

/**
 * Forwards `req` to `upstream` as it is (authorization headers included), streaming both
 * ways. `after` (given the upstream's status) runs before the client sees the answer and
 * returns headers to add. Resolves with the upstream's status once its answer is passed on.
 */
export function forwardTo(
  upstream: string,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  after?: (status: number) => Record<string, string>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const target = new URL(req.url ?? '/', upstream);
    const request = target.protocol === 'https:' ? https.request : http.request;
    const forward = request(
      target,
      { method: req.method, headers: { ...req.headers, host: target.host } },
      (up) => {
        const status = up.statusCode ?? 502;
        res.writeHead(status, { ...up.headers, ...after?.(status) });
        up.pipe(res);
        up.on('end', () => resolve(status));
        up.on('error', reject);
      },
    );
    forward.on('error', reject);
    req.pipe(forward);
  });
}
