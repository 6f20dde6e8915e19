/**
 * One webhook POST to a tenant-supplied URL, through the SSRF-guarded agents (the address
 * actually connected to is checked, so DNS rebinding cannot reach inside the network).
 * Redirects are never followed: a 3xx is a failed attempt. The response body is drained
 * and thrown away, never stored or logged; errors are described without addresses.
 */
import http from 'node:http';
import https from 'node:https';
import { type GuardedAgents, guardedAgents } from '../security/guarded-http.js';

/** A receiver that has not answered within this long has failed this attempt. */
export const DELIVERY_TIMEOUT_MS = 10_000;

export interface SendResult {
  delivered: boolean;
  httpStatus: number | null;
  /** Short, tenant-visible, never the response body or a resolved address. */
  error: string | null;
}

export class WebhookSender {
  readonly #agents: GuardedAgents;

  constructor(
    allow: readonly string[],
    private readonly timeoutMs = DELIVERY_TIMEOUT_MS,
  ) {
    this.#agents = guardedAgents(allow, { maxSockets: 8 });
  }

  post(url: URL, body: string, headers: Record<string, string>): Promise<SendResult> {
    const tls = url.protocol === 'https:';
    return new Promise((resolve) => {
      let status: number | undefined;
      const settle = (err?: unknown) =>
        resolve(
          status !== undefined
            ? fromStatus(status)
            : { delivered: false, httpStatus: null, error: describe(err) },
        );
      const req = (tls ? https : http).request(
        url,
        {
          method: 'POST',
          agent: tls ? this.#agents.httpsAgent : this.#agents.httpAgent,
          headers: {
            ...headers,
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(body)),
            'user-agent': 'Custody-Webhooks/1',
          },
          signal: AbortSignal.timeout(this.timeoutMs),
        },
        (res) => {
          status = res.statusCode ?? 0;
          res.on('error', () => settle());
          res.on('end', () => settle());
          res.resume();
        },
      );
      req.on('error', settle);
      req.end(body);
    });
  }

  close(): void {
    this.#agents.httpAgent.destroy();
    this.#agents.httpsAgent.destroy();
  }
}

function fromStatus(status: number): SendResult {
  if (status >= 200 && status < 300) return { delivered: true, httpStatus: status, error: null };
  if (status >= 300 && status < 400)
    return { delivered: false, httpStatus: status, error: `HTTP ${status}: redirects are not followed` };
  return { delivered: false, httpStatus: status, error: `HTTP ${status}` };
}

const NETWORK: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'name resolution failed',
  EPIPE: 'connection closed while sending',
};

function describe(err: unknown): string {
  const e = err as { name?: string; code?: string; message?: string } | undefined;
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError' || e?.code === 'ABORT_ERR') return 'timed out';
  // Written for tenants: names their host, never the address it resolved to.
  if (e?.code === 'ENDPOINT_NOT_ALLOWED') return e.message ?? 'endpoint not allowed';
  if (e?.code && NETWORK[e.code]) return NETWORK[e.code]!;
  if (e?.code && /CERT|TLS|SSL/.test(e.code)) return `TLS: ${e.code}`;
  return `network error (${e?.code ?? 'unknown'})`;
}
