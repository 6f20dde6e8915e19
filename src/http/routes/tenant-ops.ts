import { z } from 'zod';
import { listAudit } from '../../domain/audit.js';
import { runRetention } from '../../domain/retention.js';
import { requireTenant } from '../../domain/tenants.js';
import { defineRoute } from '../route.js';
import * as s from '../schemas.js';

const admin = { kind: 'tenant', scopes: ['tenant:admin'] } as const;

export const tenantOpsRoutes = [
  defineRoute({
    method: 'post',
    path: '/v1/tenants/:tenantId/retention/run',
    summary: 'Run the retention sweep for this tenant now',
    tags: ['retention'],
    access: admin,
    params: s.tenantParams,
    responses: {
      200: {
        description: 'What the sweep did',
        schema: z.object({ deleted: z.number().int(), kept: z.object({ legalHold: z.number().int() }) }),
      },
    },
    handler: async ({ ctx, params }) => {
      await requireTenant(ctx.db, params.tenantId);
      return { status: 200, body: await runRetention(ctx, params.tenantId) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/tenants/:tenantId/audit',
    summary: 'The tenant’s hash-chained audit trail',
    tags: ['audit'],
    access: admin,
    params: s.tenantParams,
    query: s.auditQuery,
    responses: {
      200: {
        description: 'A page of the chain, in seq order',
        schema: z.object({ items: z.array(s.auditEntry), nextCursor: z.string().optional() }),
      },
    },
    handler: async ({ ctx, params, query }) => {
      await requireTenant(ctx.db, params.tenantId);
      const page = await listAudit(ctx.db, params.tenantId, {
        from: query.from ? new Date(query.from) : undefined,
        to: query.to ? new Date(query.to) : undefined,
        limit: query.limit,
        afterSeq: query.cursor ? Number(query.cursor) : undefined,
      });
      return { status: 200, body: page };
    },
  }),
];
