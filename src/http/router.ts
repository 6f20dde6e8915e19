import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { z } from 'zod';
import type { Context } from '../context.js';
import { getRecording } from '../db/recordings.js';
import type { Principal } from '../domain/scopes.js';
import { AppError, badRequest, forbidden, notFound } from '../errors.js';
import { authenticate, hasAnyScope } from './auth.js';
import type { RouteContext, RouteSpec } from './route.js';
import { zodDetail } from './validation.js';

const jsonBody = express.json({ limit: '256kb', strict: true, type: () => true });

/** Registers every route of the table with its access rule, validation and handler. */
export function mountRoutes(router: Router, ctx: Context, routes: RouteSpec[]): void {
  for (const route of routes) {
    const handler = (req: Request, res: Response) => runRoute(ctx, route, req, res);
    router[route.method](route.path, handler);
    if (route.head) router.head(route.path, handler);
  }
}

/** The JSON body is read only once the caller is authenticated and authorized. */
const readJson = (req: Request, res: Response) =>
  new Promise<void>((resolve, reject) =>
    parseJson(req, res, (err?: unknown) => (err ? reject(err) : resolve())),
  );

function parseJson(req: Request, res: Response, next: NextFunction): void {
  const hasBody =
    Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (!hasBody) {
    req.body = undefined;
    next();
  } else if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(req.headers['content-type'] ?? '')) {
    next(new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json.'));
  } else {
    jsonBody(req, res, (err?: unknown) => {
      if (!err) next();
      else if ((err as { type?: string }).type === 'entity.too.large') {
        next(new AppError(413, 'PAYLOAD_TOO_LARGE', 'JSON body too large.'));
      } else next(badRequest('The body is not valid JSON.', 'INVALID_JSON'));
    });
  }
}

function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return undefined as T;
  const r = schema.safeParse(value);
  if (!r.success) throw badRequest(`Invalid ${where}: ${zodDetail(r.error)}`, 'VALIDATION_FAILED');
  return r.data;
}

async function runRoute(ctx: Context, route: RouteSpec, req: Request, res: Response): Promise<void> {
  const { access } = route;
  const principal: Principal | undefined =
    access.kind === 'public' ? undefined : await authenticate(ctx.db, ctx.config.adminToken, req);
  const params = parse(route.params, req.params, 'path');
  let tenantId: string | undefined;
  let recording: RouteContext<unknown, unknown, unknown>['recording'];

  if (principal) {
    switch (access.kind) {
      case 'operator':
        if (principal.kind !== 'operator') throw forbidden('Only the operator may do this.');
        break;
      case 'tenant': {
        tenantId = (params as { tenantId: string }).tenantId;
        if (principal.kind === 'api-key') {
          // Another tenant's resource looks exactly like a missing one.
          if (principal.tenantId !== tenantId) throw notFound('Tenant');
          if (!hasAnyScope(principal, access.scopes)) throw forbidden();
        }
        break;
      }
      case 'tenant-key':
        if (principal.kind !== 'api-key' || !hasAnyScope(principal, access.scopes)) throw forbidden();
        tenantId = principal.tenantId;
        break;
      case 'recording': {
        if (principal.kind !== 'api-key') throw forbidden('The operator cannot act on recording content.');
        const row = await getRecording(ctx.db, (params as { id: string }).id);
        if (!row || row.tenant_id !== principal.tenantId) throw notFound('Recording');
        if (!hasAnyScope(principal, access.scopes)) throw forbidden();
        tenantId = row.tenant_id;
        recording = row;
        break;
      }
    }
  }

  if (route.body !== undefined && !('raw' in route.body)) await readJson(req, res);
  const query = parse(route.query, req.query, 'query');
  const body =
    route.body && !('raw' in route.body) ? parse(route.body as z.ZodType, req.body ?? {}, 'body') : undefined;
  const log = ctx.log.child({ reqId: res.locals.reqId, ...(tenantId ? { tenantId } : {}) });
  const reply = await route.handler({
    ctx,
    req,
    res,
    log,
    principal,
    params,
    query,
    body,
    tenantId,
    recording,
  });
  if (!reply) return;
  for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
  if (reply.body === undefined) res.status(reply.status).end();
  else res.status(reply.status).json(reply.body);
}
