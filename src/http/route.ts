import type { Request, Response } from 'express';
import type { z } from 'zod';
import type { Context } from '../context.js';
import type { RecordingRow } from '../db/recordings.js';
import type { Principal, Scope } from '../domain/scopes.js';
import type { Logger } from '../observability/logger.js';

/**
 * Who may call a route. This table is the contract's route × scope table in code: the
 * router enforces it and the authorization tests are generated from it, so a new route
 * cannot be added without deciding its access.
 */
export type Access =
  /** No credentials (health, metrics, OpenAPI, signed playback links). */
  | { kind: 'public' }
  /** The operator token only. */
  | { kind: 'operator' }
  /** `/v1/tenants/:tenantId/…`: the operator, or a key of that tenant holding one of `scopes`. */
  | { kind: 'tenant'; scopes: readonly Scope[] }
  /** Tenant collection routes (`/v1/recordings`): a key holding one of `scopes`; never the operator. */
  | { kind: 'tenant-key'; scopes: readonly Scope[] }
  /** `/v1/recordings/:id…`: a key of the recording's tenant holding one of `scopes`; never the operator. */
  | { kind: 'recording'; scopes: readonly Scope[] };

export interface RouteContext<P, Q, B> {
  ctx: Context;
  req: Request;
  res: Response;
  log: Logger;
  principal: Principal | undefined;
  params: P;
  query: Q;
  body: B;
  /** The tenant the call acts on (path tenant, key's tenant, or recording's tenant). */
  tenantId: string | undefined;
  /** Loaded and tenant-checked for `recording` routes. */
  recording: RecordingRow | undefined;
}

/** A JSON reply; handlers that stream write to `res` themselves and return nothing. */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ResponseSpec {
  description: string;
  schema?: z.ZodType;
  contentType?: string;
}

export interface RouteSpec<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
> {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Express syntax (`/v1/recordings/:id`); OpenAPI gets `{id}`. */
  path: string;
  summary: string;
  tags: string[];
  access: Access;
  params?: P;
  query?: Q;
  /** A JSON body schema, or `raw` for bodies the handler streams itself (audio). */
  body?: B | { raw: string };
  /** Also answer HEAD (playback). */
  head?: boolean;
  responses: Record<number, ResponseSpec>;
  handler: (rc: RouteContext<z.infer<P>, z.infer<Q>, z.infer<B>>) => Promise<Reply | undefined>;
}

/** Keeps each route's inferred types without repeating them. */
export const defineRoute = <P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(
  spec: RouteSpec<P, Q, B>,
): RouteSpec => spec as unknown as RouteSpec;
