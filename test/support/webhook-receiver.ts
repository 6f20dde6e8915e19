import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

export interface ReceivedWebhook {
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Exactly the bytes received: signatures are over these, not re-serialised JSON. */
  raw: Buffer;
  body: any;
  at: number;
}

/**
 * A webhook receiver on 127.0.0.1: records every request by path and answers with the
 * statuses queued for that path (then 200), after an optional delay.
 */
export interface WebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  on(path: string): ReceivedWebhook[];
  /** Answers the next requests to `path` with these statuses in order, or as `decide` says. */
  respond(path: string, statuses: number[] | ((w: ReceivedWebhook) => number)): void;
  /** Delays every answer on `path`. */
  slow(path: string, ms: number): void;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const queued = new Map<string, number[] | ((w: ReceivedWebhook) => number)>();
  const delays = new Map<string, number>();
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const path = req.url ?? '/';
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      body = undefined;
    }
    const w = { path, headers: req.headers, raw, body, at: Date.now() };
    received.push(w);
    const wait = delays.get(path);
    if (wait) await delay(wait);
    const plan = queued.get(path);
    const status = (typeof plan === 'function' ? plan(w) : plan?.shift()) ?? 200;
    // A body the dispatcher must never store or echo.
    res.writeHead(status, { 'content-type': 'text/plain' }).end(`receiver-said-${status}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    received,
    on: (path) => received.filter((r) => r.path === path),
    respond: (path, plan) => queued.set(path, typeof plan === 'function' ? plan : [...plan]),
    slow: (path, ms) => delays.set(path, ms),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
