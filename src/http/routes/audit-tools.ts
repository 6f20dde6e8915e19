import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { exportLines, planExport } from '../../domain/audit-export.js';
import { verifyTenantChain } from '../../domain/audit-verify.js';
import { keyUsageReport } from '../../domain/key-usage.js';
import { requireTenant } from '../../domain/tenants.js';
import { defineRoute } from '../route.js';
import * as s from '../schemas.js';

const admin = { kind: 'tenant', scopes: ['tenant:admin'] } as const;
const timestamp = z.iso.datetime({ offset: true });

/** `[from, to)`; a window that ends before it starts is a mistake, not an empty answer. */
const rangeQuery = z
  .object({ from: timestamp.optional(), to: timestamp.optional() })
  .refine((q) => !q.from || !q.to || Date.parse(q.from) <= Date.parse(q.to), {
    message: 'from must not be after to',
    path: ['from'],
  });
const keyUsageQuery = z
  .object({
    from: timestamp.optional(),
    to: timestamp.optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(1000),
    cursor: z
      .string()
      .regex(/^\d{1,18}$/)
      .optional(),
  })
  .refine((q) => !q.from || !q.to || Date.parse(q.from) <= Date.parse(q.to), {
    message: 'from must not be after to',
    path: ['from'],
  });
const dates = (q: { from?: string; to?: string }) => ({
  from: q.from ? new Date(q.from) : undefined,
  to: q.to ? new Date(q.to) : undefined,
});

const verifyReport = z.object({
  ok: z.boolean(),
  checked: z.number().int(),
  head: z.object({ seq: z.number().int(), hash: z.string() }),
  firstBroken: z
    .object({
      seq: z.number().int(),
      reason: z.enum([
        'seq-gap',
        'hash-mismatch',
        'head-mismatch',
        'truncated',
        'checkpoint-mismatch',
        'checkpoint-unreadable',
      ]),
    })
    .optional(),
  checkpoint: z
    .object({ seq: z.number().int(), hash: z.string(), at: z.string(), matches: z.boolean() })
    .optional(),
  checkpointError: z.string().optional(),
});
const keyUsage = z.object({
  at: z.string(),
  recordingId: z.string(),
  actor: z.string(),
  onBehalfOf: z.string().optional(),
  purpose: z.string().describe('playback, export, rewrap or reencrypt'),
  seq: z.number().int(),
});

/** Audit export, server-side verification and the key-usage report (tenant admin or operator). */
export const auditToolRoutes = [
  defineRoute({
    method: 'get',
    path: '/v1/tenants/:tenantId/audit/export',
    summary: 'The chain (or the entries in [from, to)) as JSON Lines, with its anchor hash',
    tags: ['audit'],
    access: admin,
    params: s.tenantParams,
    query: rangeQuery,
    responses: {
      200: {
        description:
          'One entry per line, exactly as the audit API returns it. `Custody-Audit-Previous-Hash` ' +
          '(and `-Seq`) is the entry before the first line, so the range re-verifies on its own; ' +
          '`Custody-Audit-Entries` is the number of lines.',
        contentType: 'application/x-ndjson',
      },
      400: { description: 'Bad from/to', schema: s.problem },
    },
    handler: async ({ ctx, res, log, params, query }) => {
      await requireTenant(ctx.db, params.tenantId);
      const range = dates(query);
      const plan = await planExport(ctx.db, params.tenantId, range);
      res.status(200);
      res.setHeader('Content-Type', 'application/x-ndjson; charset=utf-8');
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Custody-Audit-Previous-Hash', plan.previousHash);
      res.setHeader('Custody-Audit-Previous-Seq', String(plan.previousSeq));
      res.setHeader('Custody-Audit-Entries', String(plan.count));
      try {
        // pipeline: backpressure from the client, and the generator stops if it goes away.
        await pipeline(Readable.from(exportLines(ctx.db, params.tenantId, plan, range)), res);
      } catch (err) {
        // The status line is out: a cut-off stream is all we can signal (the count header tells).
        log.warn({ err: (err as Error).message }, 'audit export aborted');
        res.destroy();
      }
      return undefined;
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/tenants/:tenantId/audit/verify',
    summary: 'Walk the whole chain server-side and compare it with the newest checkpoint',
    tags: ['audit'],
    access: admin,
    params: s.tenantParams,
    responses: { 200: { description: 'The verification report', schema: verifyReport } },
    handler: async ({ ctx, params }) => ({
      status: 200,
      body: await verifyTenantChain(ctx, params.tenantId),
    }),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/tenants/:tenantId/key-usage',
    summary: 'Every decryption of the tenant’s recordings (playback, export, rewrap), from the audit chain',
    tags: ['audit'],
    access: admin,
    params: s.tenantParams,
    query: keyUsageQuery,
    responses: {
      200: {
        description: 'Uses of the tenant key, in chain order',
        schema: z.object({ items: z.array(keyUsage), nextCursor: z.string().optional() }),
      },
      400: { description: 'Bad from/to', schema: s.problem },
    },
    handler: async ({ ctx, params, query }) => {
      await requireTenant(ctx.db, params.tenantId);
      const page = await keyUsageReport(ctx.db, params.tenantId, {
        ...dates(query),
        limit: query.limit,
        afterSeq: query.cursor ? Number(query.cursor) : undefined,
      });
      return { status: 200, body: page };
    },
  }),
];
