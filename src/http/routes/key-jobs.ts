import { z } from 'zod';
import { cancelKeyJob, describeKeyJob, listKeyJobViews, startKeyJob } from '../../domain/key-jobs.js';
import { actorOf } from '../../domain/scopes.js';
import { defineRoute } from '../route.js';
import * as s from '../schemas.js';

const admin = { kind: 'tenant', scopes: ['tenant:admin'] } as const;

const kind = z.enum(['rewrap', 'reencrypt', 'migrate']);
const startBody = z.strictObject({
  kind: kind.describe(
    'rewrap: data keys under the target version’s key, audio untouched; reencrypt: a fresh data key; ' +
      'migrate: copy to the target version’s storage (rewrapped if its key differs)',
  ),
  targetVersion: z
    .number()
    .int()
    .positive()
    .optional()
    .describe('Storage version to move to; default: the active one'),
  ratePerSecond: z.number().positive().max(1000).optional().describe('Recordings per second; default 10'),
  recordingIds: z
    .array(z.string().regex(/^[A-Za-z0-9_-]{1,128}$/))
    .min(1)
    .max(1000)
    .optional()
    .describe('reencrypt only: just these recordings'),
});
const jobParams = z.object({
  tenantId: s.tenantId,
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a key job id'),
});
const keyJob = z.object({
  id: z.string(),
  tenantId: z.string(),
  kind,
  targetVersion: z.number().int(),
  status: z.enum(['running', 'done', 'failed', 'cancelled']),
  total: z.number().int(),
  done: z.number().int(),
  failed: z.number().int(),
  skipped: z.number().int().describe('Deleted while the job worked on them'),
  remaining: z.number().int(),
  ratePerSecond: z.number(),
  recordingIds: z.array(z.string()).optional(),
  error: z.string().optional(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  failures: z
    .array(z.object({ recordingId: z.string(), code: z.string(), message: z.string() }))
    .optional()
    .describe('Up to 20 recordings that failed, and why (they keep their old object)'),
});
const listQuery = z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) });

/** Key rotation and storage switch jobs: start, watch, list, cancel. */
export const keyJobRoutes = [
  defineRoute({
    method: 'post',
    path: '/v1/tenants/:tenantId/key-jobs',
    summary: 'Start a rewrap, re-encryption or storage migration of the tenant’s stored recordings',
    tags: ['key-jobs'],
    access: admin,
    params: s.tenantParams,
    body: startBody,
    responses: {
      202: { description: 'Started (or done at once when there is nothing to do)', schema: keyJob },
      409: { description: 'A key job is already running for this tenant', schema: s.problem },
    },
    handler: async ({ ctx, principal, params, body }) => ({
      status: 202,
      body: await startKeyJob(ctx, actorOf(principal!), params.tenantId, body),
    }),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/tenants/:tenantId/key-jobs',
    summary: 'The tenant’s key jobs, newest first',
    tags: ['key-jobs'],
    access: admin,
    params: s.tenantParams,
    query: listQuery,
    responses: { 200: { description: 'Key jobs', schema: z.object({ items: z.array(keyJob) }) } },
    handler: async ({ ctx, params, query }) => ({
      status: 200,
      body: { items: await listKeyJobViews(ctx, params.tenantId, query.limit) },
    }),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/tenants/:tenantId/key-jobs/:id',
    summary: 'A key job’s progress',
    tags: ['key-jobs'],
    access: admin,
    params: jobParams,
    responses: { 200: { description: 'Progress', schema: keyJob } },
    handler: async ({ ctx, params }) => ({
      status: 200,
      body: await describeKeyJob(ctx, params.tenantId, params.id),
    }),
  }),
  defineRoute({
    method: 'post',
    path: '/v1/tenants/:tenantId/key-jobs/:id/cancel',
    summary: 'Cancel a running key job (a finished one is returned as it is)',
    tags: ['key-jobs'],
    access: admin,
    params: jobParams,
    responses: { 200: { description: 'The job after the cancel', schema: keyJob } },
    handler: async ({ ctx, principal, params }) => ({
      status: 200,
      body: await cancelKeyJob(ctx, actorOf(principal!), params.tenantId, params.id),
    }),
  }),
];
