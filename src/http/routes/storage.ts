import { z } from 'zod';
import { actorOf } from '../../domain/scopes.js';
import { azureRequest } from '../../domain/storage/plans/azure-blob.js';
import { localRequest } from '../../domain/storage/plans/local.js';
import { s3Request } from '../../domain/storage/plans/s3.js';
import { describeStorage, registerStorage } from '../../domain/storage/register.js';
import { defineRoute } from '../route.js';
import * as s from '../schemas.js';

const admin = { kind: 'tenant', scopes: ['tenant:admin'] } as const;

/** Every provider's registration body; each is checked again against the enabled providers. */
const storageBody = z.discriminatedUnion('provider', [localRequest, s3Request, azureRequest]);

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
