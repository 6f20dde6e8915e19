import { z } from 'zod';
import { readCertificate, requestTenantDeletion } from '../../domain/offboarding/delete-tenant.js';
import { readExport, requestExport } from '../../domain/offboarding/export.js';
import { actorOf } from '../../domain/scopes.js';
import { badRequest } from '../../errors.js';
import { certificateSigner } from '../../keys/certificate-signer.js';
import { defineRoute } from '../route.js';
import * as s from '../schemas.js';

const err = (description: string) => ({ description, schema: s.problem });
const admin = { kind: 'tenant', scopes: ['tenant:admin'] } as const;

const exportParams = z.object({ tenantId: s.tenantId, exportId: z.string().min(1).max(64) });
const exportView = z.object({
  id: z.string(),
  tenantId: z.string(),
  status: z.enum(['running', 'done', 'failed']),
  recordings: z.number().int().nullable().describe('Recording lines in the manifest, once done'),
  location: z.string().nullable().describe('Where the manifest is in the tenant’s storage, once done'),
  objectKey: z.string().describe('`_custody/exports/<id>/manifest.jsonl`, relative to the storage root'),
  storageVersion: z.number().int(),
  manifestSha256: z.string().nullable(),
  createdAt: z.string(),
  completedAt: z.string().nullable(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

const deleteBody = z.strictObject({
  confirm: z.string().max(100).describe('The tenant id again: guards against deleting the wrong tenant'),
});
const deletionView = z.object({
  tenantId: z.string(),
  status: z.enum(['deleting', 'deleted']),
  requestedAt: z.string(),
  completedAt: z.string().nullable(),
  lastError: z.string().nullable(),
});
const certificateReply = deletionView.extend({
  certificate: z.string().optional().describe('Compact JWS (EdDSA, Ed25519), once deleted'),
  kid: z.string().optional(),
  content: z
    .object({
      tenantId: z.string(),
      requestedAt: z.string(),
      completedAt: z.string(),
      recordings: z.array(
        z.object({
          id: z.string(),
          objectKey: z.string().nullable(),
          location: z.string().nullable(),
          storageVersion: z.number().int().nullable(),
          deletedAt: z.string(),
        }),
      ),
      auditHead: z.object({ seq: z.number().int(), hash: z.string() }),
      issuer: z.literal('custody'),
    })
    .optional()
    .describe('The signed payload, decoded'),
  storageCopy: z
    .object({ location: z.string().nullable(), error: z.string().nullable() })
    .optional()
    .describe('The copy at `_custody/deletion-certificate.json` in the tenant’s storage'),
});
const publicJwk = z.object({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string(),
  kid: z.string(),
  alg: z.literal('EdDSA'),
  use: z.literal('sig'),
});

export const offboardingRoutes = [
  defineRoute({
    method: 'post',
    path: '/v1/tenants/:tenantId/export',
    summary: 'Export a manifest of every recording into the tenant’s own storage',
    tags: ['offboarding'],
    access: admin,
    params: s.tenantParams,
    responses: {
      202: { description: 'The export job; poll it', schema: exportView },
      404: err('No such tenant'),
      409: err('No storage registered, or the tenant is being deleted'),
    },
    handler: async ({ ctx, principal, params }) => ({
      status: 202,
      body: await requestExport(ctx, actorOf(principal!), params.tenantId),
    }),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/tenants/:tenantId/export/:exportId',
    summary: 'An export’s status and, once done, where its manifest is',
    tags: ['offboarding'],
    access: admin,
    params: exportParams,
    responses: { 200: { description: 'The export', schema: exportView }, 404: err('No such export') },
    handler: async ({ ctx, params }) => ({
      status: 200,
      body: await readExport(ctx, params.tenantId, params.exportId),
    }),
  }),
  defineRoute({
    method: 'delete',
    path: '/v1/tenants/:tenantId',
    summary:
      'Delete a tenant: every recording, its API keys and Custody’s access to its storage; issues a signed deletion certificate',
    tags: ['offboarding'],
    access: { kind: 'operator' },
    params: s.tenantParams,
    body: deleteBody,
    responses: {
      202: { description: 'Deleting (or already deleted: the request is idempotent)', schema: deletionView },
      400: err('`confirm` does not repeat the tenant id'),
      404: err('No such tenant'),
      409: err('A recording is on legal hold (`LEGAL_HOLD`), or a key job is running'),
    },
    handler: async ({ ctx, principal, params, body }) => {
      if (body.confirm !== params.tenantId) {
        throw badRequest('Set "confirm" to the id of the tenant to delete.', 'CONFIRMATION_REQUIRED');
      }
      const { view } = await requestTenantDeletion(ctx, actorOf(principal!), params.tenantId);
      return { status: 202, body: view };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/tenants/:tenantId/deletion-certificate',
    summary: 'The tenant’s deletion certificate once deleted (`status: deleting` until then)',
    tags: ['offboarding'],
    access: { kind: 'operator' },
    params: s.tenantParams,
    responses: {
      200: { description: 'The certificate, or the deletion’s progress', schema: certificateReply },
      404: err('No such tenant, or no deletion requested'),
    },
    handler: async ({ ctx, params }) => ({ status: 200, body: await readCertificate(ctx, params.tenantId) }),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/deletion-certificates/public-key',
    summary: 'The Ed25519 public key (JWK) that verifies deletion certificates',
    tags: ['offboarding'],
    access: { kind: 'public' },
    responses: { 200: { description: 'The public JWK', schema: publicJwk } },
    handler: async ({ ctx }) => ({
      status: 200,
      body: (await certificateSigner(ctx.config.secretsKey!)).publicJwk,
      headers: { 'cache-control': 'public, max-age=3600' },
    }),
  }),
];
