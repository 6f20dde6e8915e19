import { actorOf } from '../../domain/scopes.js';
import { createTenant, patchTenant, requireTenant, tenantView } from '../../domain/tenants.js';
import { defineRoute } from '../route.js';
import * as s from '../schemas.js';

const err = (description: string) => ({ description, schema: s.problem });

export const tenantRoutes = [
  defineRoute({
    method: 'post',
    path: '/v1/tenants',
    summary: 'Create a tenant',
    tags: ['tenants'],
    access: { kind: 'operator' },
    body: s.createTenantBody,
    responses: { 201: { description: 'Created', schema: s.tenant }, 409: err('The id is taken') },
    handler: async ({ ctx, principal, body }) => ({
      status: 201,
      body: await createTenant(ctx.db, actorOf(principal!), body),
    }),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/tenants/:tenantId',
    summary: 'Read a tenant',
    tags: ['tenants'],
    access: { kind: 'tenant', scopes: ['tenant:admin'] },
    params: s.tenantParams,
    responses: { 200: { description: 'The tenant', schema: s.tenant }, 404: err('No such tenant') },
    handler: async ({ ctx, params }) => ({
      status: 200,
      body: tenantView(await requireTenant(ctx.db, params.tenantId)),
    }),
  }),
  defineRoute({
    method: 'patch',
    path: '/v1/tenants/:tenantId',
    summary:
      'Change a tenant’s name, retention or metadata sidecar mode (applies to recordings received afterwards)',
    tags: ['tenants'],
    access: { kind: 'tenant', scopes: ['tenant:admin'] },
    params: s.tenantParams,
    body: s.patchTenantBody,
    responses: { 200: { description: 'The tenant', schema: s.tenant }, 404: err('No such tenant') },
    handler: async ({ ctx, principal, params, body }) => ({
      status: 200,
      body: await patchTenant(ctx.db, actorOf(principal!), params.tenantId, body),
    }),
  }),
];
