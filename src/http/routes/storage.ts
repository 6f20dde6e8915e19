import { z } from 'zod';
import { actorOf } from '../../domain/scopes.js';
import { awsSetup } from '../../domain/storage/aws-setup.js';
import { localRequest } from '../../domain/storage/providers.js';
import { describeStorage, registerStorage } from '../../domain/storage/register.js';
import { requireTenant } from '../../domain/tenants.js';
import { defineRoute } from '../route.js';
import * as s from '../schemas.js';

const admin = { kind: 'tenant', scopes: ['tenant:admin'] } as const;

/** Every provider's registration body; each is checked again against the enabled providers. */
const storageBody = z.discriminatedUnion('provider', [localRequest]);

export const storageRoutes = [
  defineRoute({
    method: 'get',
    path: '/v1/tenants/:tenantId/storage',
    summary: 'The active storage version and its history (never a secret)',
    tags: ['storage'],
    access: admin,
    params: s.tenantParams,
    responses: {
      200: {
        description: 'Storage',
        schema: z.object({ active: s.storageVersion.nullable(), history: z.array(s.storageVersion) }),
      },
    },
    handler: async ({ ctx, params }) => ({ status: 200, body: await describeStorage(ctx, params.tenantId) }),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/tenants/:tenantId/storage/aws-setup',
    summary: 'Filled-in IAM and KMS policy templates for the tenant’s AWS account',
    tags: ['storage'],
    access: admin,
    params: s.tenantParams,
    responses: {
      200: {
        description: 'Templates',
        schema: z.object({
          externalId: z.string(),
          connectorPrincipal: z.string().nullable(),
          trustPolicy: z.unknown(),
          permissionsPolicy: z.unknown(),
          keyPolicyStatement: z.unknown(),
        }),
      },
    },
    handler: async ({ ctx, params }) => {
      const t = await requireTenant(ctx.db, params.tenantId);
      return {
        status: 200,
        body: awsSetup({
          tenantId: t.id,
          externalId: t.aws_external_id,
          connectorPrincipal: ctx.config.awsConnectorPrincipal,
        }),
      };
    },
  }),
  defineRoute({
    method: 'put',
    path: '/v1/tenants/:tenantId/storage',
    summary:
      'Register bucket and key: runs the test-encrypt handshake, activates a new version only if it passes',
    tags: ['storage'],
    access: admin,
    params: s.tenantParams,
    body: storageBody,
    responses: {
      200: {
        description: 'Activated',
        schema: z.object({ version: z.number().int(), status: z.literal('active'), handshake: s.handshake }),
      },
      422: { description: 'A handshake step failed', schema: s.problem.extend({ handshake: s.handshake }) },
    },
    handler: async ({ ctx, principal, params, body }) => ({
      status: 200,
      body: await registerStorage(ctx, actorOf(principal!), params.tenantId, body as Record<string, unknown>),
    }),
  }),
];
