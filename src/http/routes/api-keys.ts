import { z } from 'zod';
import { createApiKey, listKeys, revokeKey } from '../../domain/api-keys.js';
import { actorOf } from '../../domain/scopes.js';
import { requireTenant } from '../../domain/tenants.js';
import { defineRoute } from '../route.js';
import * as s from '../schemas.js';

const admin = { kind: 'tenant', scopes: ['tenant:admin'] } as const;

export const apiKeyRoutes = [
  defineRoute({
    method: 'post',
    path: '/v1/tenants/:tenantId/api-keys',
    summary: 'Create an API key (the secret is returned once)',
    tags: ['api-keys'],
    access: admin,
    params: s.tenantParams,
    body: s.createApiKeyBody,
    responses: { 201: { description: 'Created', schema: s.createdApiKey } },
    handler: async ({ ctx, principal, params, body }) => {
      await requireTenant(ctx.db, params.tenantId);
      return { status: 201, body: await createApiKey(ctx.db, actorOf(principal!), params.tenantId, body) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/tenants/:tenantId/api-keys',
    summary: 'List API keys (never their secrets)',
    tags: ['api-keys'],
    access: admin,
    params: s.tenantParams,
    responses: { 200: { description: 'Keys', schema: z.object({ items: z.array(s.apiKey) }) } },
    handler: async ({ ctx, params }) => {
      await requireTenant(ctx.db, params.tenantId);
      return { status: 200, body: { items: await listKeys(ctx.db, params.tenantId) } };
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/v1/tenants/:tenantId/api-keys/:keyId',
    summary: 'Revoke an API key, effective immediately',
    tags: ['api-keys'],
    access: admin,
    params: s.apiKeyParams,
    responses: { 204: { description: 'Revoked' } },
    handler: async ({ ctx, principal, params }) => {
      await revokeKey(ctx.db, actorOf(principal!), params.tenantId, params.keyId);
      return { status: 204 };
    },
  }),
];
