import http from 'node:http';
import https from 'node:https';
import { type Answer, type ErrorDialect, FaultProxy, forwardTo, storeError } from './fault-proxy.js';

/**
 * The base of the stand-ins that add a feature a local store (s3rver, Azurite) lacks: a
 * FaultProxy in front of the store whose `intercept` answers the requests the feature
 * concerns, with state kept beside the store. Everything else goes through untouched, and
 * `failNext` faults come first, as with FaultProxy itself.
 */
export abstract class InterceptingProxy {
  readonly #proxy: FaultProxy;

  /** `upstream`: the store's origin; `dialect`: how it spells an error. */
  constructor(
    protected readonly upstream: string,
    private readonly dialect: ErrorDialect,
  ) {
    this.#proxy = new FaultProxy(upstream, dialect).intercept((req, res) => this.intercept(req, res));
  }

  /** The proxy's origin (same scheme as the upstream). */
  get endpoint(): string {
    return this.#proxy.endpoint;
  }

  /** Every request seen (method and path with query), in order. */
  get requests() {
    return this.#proxy.requests;
  }

  /** The next `method` request fails with the store's error shape (see FaultProxy). */
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

  /** Answers a request itself (and returns true), or leaves it to be forwarded (false). */
  protected abstract intercept(req: http.IncomingMessage, res: http.ServerResponse): boolean;

  /** Answers with `answer` once it is there; if it fails, as `settle` says. Returns true. */
  protected answerWith(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    answer: Answer | Promise<Answer>,
  ): true {
    return this.settle(
      req,
      res,
      Promise.resolve(answer).then((a) => send(res, a)),
    );
  }

  /**
   * Lets `work`, which answers the request itself, run. If it fails: a 500 InternalError in
   * the store's dialect, or, once an answer has begun, a cut connection. Returns true, for
   * `intercept` to return.
   */
  protected settle(req: http.IncomingMessage, res: http.ServerResponse, work: Promise<unknown>): true {
    work.catch((err: Error) => {
      req.resume();
      if (res.headersSent) res.destroy(err);
      else send(res, storeError(this.dialect, 500, 'InternalError', err.message));
    });
    return true;
  }

  /**
   * Forwards the request to the store, streaming both ways; `after` (given the store's
   * status) runs before the client sees the answer and returns headers to add. Resolves
   * with the store's status once its answer has been passed on.
   */
  protected forward(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    after?: (status: number) => Record<string, string>,
  ): Promise<number> {
    return forwardTo(this.upstream, req, res, after);
  }

  /** Sends a request of the proxy's own to the store and reads its whole (small) answer. */
  protected exchange(
    method: string,
    path: string,
    headers: http.OutgoingHttpHeaders,
    body?: Buffer | http.IncomingMessage,
  ): Promise<Answer & { body: Buffer }> {
    const target = new URL(path, this.upstream);
    const request = target.protocol === 'https:' ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const out = request(target, { method, headers: { ...headers, host: target.host } }, (up) => {
        up.toArray().then((chunks) => {
          const flat: Record<string, string> = {};
          for (const [name, value] of Object.entries(up.headers))
            if (typeof value === 'string') flat[name] = value;
          resolve({ status: up.statusCode ?? 502, headers: flat, body: Buffer.concat(chunks) });
        }, reject);
      });
      out.on('error', reject);
      if (body === undefined || Buffer.isBuffer(body)) out.end(body);
      else body.pipe(out);
    });
  }

  /** Calls `onBytes` with the size of each body chunk of `res`, a forwarded answer. */
  protected countBody(res: http.ServerResponse, onBytes: (bytes: number) => void): void {
    const write = res.write.bind(res);
    res.write = ((chunk: Buffer | string, ...rest: never[]) => {
      onBytes(Buffer.byteLength(chunk));
      return write(chunk, ...rest);
    }) as typeof res.write;
  }
}

/**
 * Writes `a` as the whole answer; its length is its body's (an upstream's length or
 * chunking, when `a` was read from the store, no longer applies).
 */
export function send(res: http.ServerResponse, a: Answer): void {
  const body = typeof a.body === 'string' ? Buffer.from(a.body) : a.body;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(a.headers)) {
    if (name !== 'content-length' && name !== 'transfer-encoding') headers[name] = value;
  }
  res.writeHead(a.status, { ...headers, 'content-length': String(body.length) });
  res.end(body);
}

/** `/bucket/a/b` or `bucket/a/b` → [bucket, a/b]; `/bucket` → [bucket, ''] (path-style). */
export function splitPath(path: string): [string, string] {
  const trimmed = path.replace(/^\/+/, '');
  const at = trimmed.indexOf('/');
  return at < 0 ? [trimmed, ''] : [trimmed.slice(0, at), trimmed.slice(at + 1)];
}

/** A request header's (first) value. */
export function header(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
