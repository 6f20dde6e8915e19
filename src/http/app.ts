import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Context } from '../context.js';
import { AppError } from '../errors.js';
import { sendProblem, toAppError } from './problem.js';
import { mountQueueDashboard } from './queue-dashboard.js';
import { mountRoutes } from './router.js';
import { allRoutes } from './routes/index.js';

/** Paths whose tail is a credential (signed playback links) are logged without it. */
export const loggablePath = (url: string) =>
  url.split('?')[0]!.replace(/^(\/v1\/playback\/).+$/, '$1[redacted]');

export function createApp(ctx: Context): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use((req: Request, res: Response, next: NextFunction) => {
    const started = performance.now();
    res.locals.reqId = randomUUID();
    res.setHeader('X-Request-Id', res.locals.reqId);
    res.on('finish', () => {
      ctx.log.info(
        {
          reqId: res.locals.reqId,
          method: req.method,
          path: loggablePath(req.originalUrl),
          status: res.statusCode,
          ms: Math.round(performance.now() - started),
        },
        'request',
      );
    });
    next();
  });

  const router = express.Router();
  mountRoutes(router, ctx, allRoutes);
  app.use(router);
  mountQueueDashboard(app, ctx);

  app.use((_req: Request, _res: Response, next: NextFunction) =>
    next(new AppError(404, 'NOT_FOUND', 'No such endpoint.')),
  );
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const known = toAppError(err);
    if (!known) {
      ctx.log.error({ reqId: res.locals.reqId, path: loggablePath(req.originalUrl), err }, 'unhandled error');
    } else if (known.status >= 500) {
      ctx.log.warn(
        { reqId: res.locals.reqId, code: known.code, cause: (err as Error).message },
        'request failed',
      );
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendProblem(
      res,
      known ?? new AppError(500, 'INTERNAL', 'An internal error occurred; it has been logged.'),
    );
  });
  return app;
}
