import { z } from 'zod';
import { actorOf } from '../../domain/scopes.js';
import {
  createEndpoint,
  deleteEndpoint,
  deliveryLog,
  listEndpointViews,
  pingEndpoint,
} from '../../webhooks/endpoints.js';
import { WEBHOOK_EVENTS } from '../../webhooks/events.js';
import { defineRoute } from '../route.js';
import * as s from '../schemas.js';

const admin = { kind: 'tenant', scopes: ['tenant:admin'] } as const;

const webhookParams = z.object({ tenantId: s.tenantId, webhookId: z.string().min(1).max(64) });
const createBody = z.strictObject({
  url: z.string().min(1).max(2048).describe('https (http only for hosts the operator allows); SSRF-checked'),
  events: z
    .array(z.enum(WEBHOOK_EVENTS))
    .min(1)
    .max(WEBHOOK_EVENTS.length * 2)
    .optional()
    .describe('Default: every event'),
});
const endpoint = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  createdAt: z.string(),
});
const delivery = z.object({
  eventId: z.string(),
  seq: z.number().int(),
  type: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  lastAttemptAt: z.string().nullable(),
  lastHttpStatus: z.number().int().nullable(),
  lastError: z.string().nullable(),
  nextAttemptAt: z.string().nullable(),
  deliveredAt: z.string().nullable(),
  createdAt: z.string(),
});
const deliveryQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z
    .string()
    .regex(/^\d{1,18}$/)
    .optional(),
});

export const webhookRoutes = [
  defineRoute({
    method: 'post',
    path: '/v1/tenants/:tenantId/webhooks',
    summary: 'Register a webhook endpoint (the signing secret is returned once)',
    tags: ['webhooks'],
    access: admin,
    params: s.tenantParams,
    body: createBody,
    responses: {
      201: {
        description: 'Created; deliveries start with the next event',
        schema: endpoint.extend({ secret: z.string().describe('Shown once; store it now.') }),
      },
      400: { description: 'Bad input, or the URL is not allowed (ENDPOINT_NOT_ALLOWED)', schema: s.problem },
    },
    handler: async ({ ctx, principal, params, body }) => ({
      status: 201,
      body: await createEndpoint(ctx, actorOf(principal!), params.tenantId, body),
    }),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/tenants/:tenantId/webhooks',
    summary: 'List webhook endpoints (never their secrets)',
    tags: ['webhooks'],
    access: admin,
    params: s.tenantParams,
    responses: { 200: { description: 'Endpoints', schema: z.object({ items: z.array(endpoint) }) } },
    handler: async ({ ctx, params }) => ({
      status: 200,
      body: { items: await listEndpointViews(ctx.db, params.tenantId) },
    }),
  }),
  defineRoute({
    method: 'delete',
    path: '/v1/tenants/:tenantId/webhooks/:webhookId',
    summary: 'Delete a webhook endpoint: no further deliveries',
    tags: ['webhooks'],
    access: admin,
    params: webhookParams,
    responses: { 204: { description: 'Deleted' } },
    handler: async ({ ctx, principal, params }) => {
      await deleteEndpoint(ctx.db, actorOf(principal!), params.tenantId, params.webhookId);
      return { status: 204 };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/tenants/:tenantId/webhooks/:webhookId/deliveries',
    summary: 'The delivery log, newest first (never a response body)',
    tags: ['webhooks'],
    access: admin,
    params: webhookParams,
    query: deliveryQuery,
    responses: {
      200: {
        description: 'A page of deliveries',
        schema: z.object({ items: z.array(delivery), nextCursor: z.string().optional() }),
      },
    },
    handler: async ({ ctx, params, query }) => ({
      status: 200,
      body: await deliveryLog(ctx.db, params.tenantId, params.webhookId, query),
    }),
  }),
  defineRoute({
    method: 'post',
    path: '/v1/tenants/:tenantId/webhooks/:webhookId/ping',
    summary: 'Queue a signed `webhook.ping` test delivery to this endpoint',
    tags: ['webhooks'],
    access: admin,
    params: webhookParams,
    responses: { 202: { description: 'Queued', schema: z.object({ eventId: z.string() }) } },
    handler: async ({ ctx, principal, params }) => ({
      status: 202,
      body: await pingEndpoint(ctx.db, actorOf(principal!), params.tenantId, params.webhookId),
    }),
  }),
];
