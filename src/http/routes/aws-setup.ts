import { z } from 'zod';
import { awsSetup } from '../../domain/storage/aws-setup.js';
import { requireTenant } from '../../domain/tenants.js';
import { defineRoute } from '../route.js';
import * as s from '../schemas.js';

const admin = { kind: 'tenant', scopes: ['tenant:admin'] } as const;

export const awsSetupRoutes = [
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
];
