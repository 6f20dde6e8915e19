import http from 'node:http';
import type { AddressInfo } from 'node:net';

interface Fault {
  method: string;
  status: number;
  code: string;
}

/**
 * An HTTP proxy in front of s3rver that answers chosen requests with an S3 error, as S3
 * would (XML body, status): the one way to make only HEAD, or only DELETE, fail against
 * a real S3-compatible server. Everything else is forwarded untouched.
 */
export class S3FaultProxy {
  readonly #faults: Fault[] = [];
  readonly requests: { method: string; path: string }[] = [];
  readonly #server = http.createServer((req, res) => this.#handle(req, res));
  #endpoint = '';

  constructor(private readonly upstream: string) {}

  get endpoint(): string {
    return this.#endpoint;
  }

  /** The next `method` request (PUT, HEAD, GET, DELETE, POST) gets `status` with S3 error `code`. */
  failNext(method: string, code: string, status = 403): void {
    this.#faults.push({ method, status, code });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.#endpoint = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
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
      // HEAD replies carry no body, as in S3.
      const body =
        req.method === 'HEAD'
          ? ''
          : `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>injected</Message><RequestId>proxy</RequestId></Error>`;
      res.writeHead(fault.status, { 'content-type': 'application/xml', 'x-amz-request-id': 'proxy' });
      res.end(body);
      return;
    }
    const target = new URL(req.url ?? '/', this.upstream);
    const forward = http.request(
      target,
      { method: req.method, headers: { ...req.headers, host: target.host } },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    forward.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(forward);
  }
}
