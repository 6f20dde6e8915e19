import { z } from 'zod';
import { parseDuration } from '../domain/duration.js';
import { SCOPES } from '../domain/scopes.js';

/**
 * Request and response schemas. The same objects validate requests and generate
 * `/openapi.json`, so the document cannot drift from what the service accepts.
 */
export const tenantId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, 'a tenant id: [a-z0-9-], 3-63 chars');
export const retention = z
  .string()
  .refine((s) => parseDuration(s) !== undefined, 'an ISO-8601 duration such as P90D, P1M or PT10S');
const timestamp = z.iso.datetime({ offset: true });

export const tenantParams = z.object({ tenantId });
export const recordingParams = z.object({ id: z.string().min(1).max(128) });

export const problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string(),
});

export const tenant = z.object({
  id: z.string(),
  name: z.string(),
  retention: z.string(),
  activeStorageVersion: z.number().int().nullable(),
  status: z.enum(['active', 'deleting', 'deleted']),
  metadataSidecar: z.enum(['encrypted', 'plaintext', 'off']),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export const createTenantBody = z.strictObject({ id: tenantId, name: z.string().min(1).max(200), retention });
export const patchTenantBody = z
  .strictObject({
    name: z.string().min(1).max(200).optional(),
    retention: retention.optional(),
    metadataSidecar: z
      .enum(['encrypted', 'plaintext', 'off'])
      .optional()
      .describe('The JSON document written beside each recording transferred from now on.'),
  })
  .refine(
    (b) => b.name !== undefined || b.retention !== undefined || b.metadataSidecar !== undefined,
    'give name, retention or metadataSidecar',
  );

export const scope = z.enum(SCOPES);
export const createApiKeyBody = z.strictObject({
  name: z.string().min(1).max(200),
  scopes: z.array(scope).min(1),
  expiresAt: timestamp.optional(),
});
export const apiKey = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(z.string()),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  createdAt: z.string(),
});
export const createdApiKey = apiKey.extend({ key: z.string().describe('Shown once; store it now.') });
export const apiKeyParams = z.object({ tenantId, keyId: z.string().min(1).max(64) });

export const handshake = z.object({
  ok: z.boolean(),
  steps: z.array(
    z.object({
      name: z.string(),
      ok: z.boolean(),
      ms: z.number(),
      error: z.object({ code: z.string(), message: z.string() }).optional(),
    }),
  ),
});
export const storageVersion = z.object({
  version: z.number().int(),
  provider: z.string(),
  config: z.record(z.string(), z.unknown()),
  keyId: z.string(),
  createdAt: z.string(),
  handshake,
});

export const recording = z.object({
  id: z.string(),
  tenantId: z.string(),
  status: z.enum(['queued', 'transferring', 'stored', 'blocked', 'failed', 'deleting', 'deleted']),
  callId: z.string(),
  agentId: z.string().optional(),
  startedAt: z.string().optional(),
  direction: z.enum(['inbound', 'outbound']).optional(),
  contentType: z.string(),
  size: z.number().int(),
  sha256: z.string(),
  createdAt: z.string(),
  storedAt: z.string().optional(),
  expiresAt: z.string(),
  legalHold: z.boolean(),
  legalHoldReason: z.string().optional(),
  storage: z
    .object({
      provider: z.string(),
      storageVersion: z.number().int(),
      location: z.string(),
      keyId: z.string(),
    })
    .optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

export const ingestQuery = z.object({
  callId: z.string().min(1).max(128),
  agentId: z.string().min(1).max(128).optional(),
  startedAt: timestamp.optional(),
  direction: z.enum(['inbound', 'outbound']).optional(),
});

export const listQuery = z.object({
  callId: z.string().min(1).max(128).optional(),
  status: recording.shape.status.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(200).optional(),
});

export const legalHoldBody = z.strictObject({ hold: z.boolean(), reason: z.string().max(500).optional() });
export const playbackLinkBody = z.strictObject({
  ttlSeconds: z.number().int().min(1).max(86400).optional(),
  onBehalfOf: z.string().min(1).max(256).optional(),
});
export const playbackLink = z.object({ url: z.string(), expiresAt: z.string() });

export const auditQuery = z.object({
  from: timestamp.optional(),
  to: timestamp.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z
    .string()
    .regex(/^\d{1,18}$/)
    .optional(),
});
export const auditEntry = z.object({
  seq: z.number().int(),
  at: z.string(),
  actor: z.string(),
  action: z.string(),
  target: z.string(),
  detail: z.record(z.string(), z.unknown()),
  hash: z.string(),
});
