import { createHash, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import type { Express, NextFunction, Request, Response } from 'express';
import type { Context } from '../context.js';
import { QUEUES } from '../queue/names.js';
import { bearerToken } from './auth.js';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** The operator token, as a bearer token or as the password of HTTP Basic (what a browser can send). */
function presentedToken(req: Request): string | undefined {
  const bearer = bearerToken(req);
  if (bearer) return bearer;
  const m = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

function operatorOnly(adminToken: string | undefined) {
  return (req: Request, res: Response, next: NextFunction) => {
    const token = presentedToken(req);
    if (adminToken && token && timingSafeEqual(sha256(token), sha256(adminToken))) return next();
    res
      .status(401)
      .set('WWW-Authenticate', 'Basic realm="custody queues", charset="UTF-8"')
      .type('application/problem+json')
      .send(
        JSON.stringify({
          type: 'urn:custody:problem:unauthenticated',
          title: 'Unauthorized',
          status: 401,
          code: 'UNAUTHENTICATED',
          detail: 'The queue dashboard needs the operator token (Bearer, or as the Basic password).',
        }),
      );
  };
}

/**
 * The operator's view of the BullMQ queues (bull-board) under /admin/queues, off unless
 * `CUSTODY_QUEUE_DASHBOARD=on`, operator token only. Read-only: PostgreSQL is the system
 * of record and the reconciler re-creates jobs, so retrying or deleting jobs by hand here
 * would only race it; job payloads hold ids, never secrets or audio.
 */
export function mountQueueDashboard(app: Express, ctx: Context): void {
  if (!ctx.config.queueDashboard) return;
  const queues = Object.values(QUEUES).map(
    (name) => new Queue(name, { connection: ctx.producer.connection, prefix: ctx.config.queuePrefix }),
  );
  const adapter = new ExpressAdapter();
  adapter.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: true })),
    serverAdapter: adapter,
  });
  // The queues share the producer's connection: they close with it.
  app.use(QUEUE_DASHBOARD_PATH, operatorOnly(ctx.config.adminToken), adapter.getRouter());
}
