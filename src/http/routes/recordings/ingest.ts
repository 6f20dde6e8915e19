import { ingestRecording } from '../../../domain/recordings/ingest.js';
import { actorOf } from '../../../domain/scopes.js';
import { AppError, badRequest } from '../../../errors.js';
import { defineRoute } from '../../route.js';
import * as s from '../../schemas.js';

const AUDIO = /^audio\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}(\s*;.*)?$/i;

export const ingestRoute = defineRoute({
  method: 'post',
  path: '/v1/recordings',
  summary: 'Post a recording (raw audio body); 202 once it is durably spooled, encrypted',
  tags: ['recordings'],
  access: { kind: 'tenant-key', scopes: ['recordings:write'] },
  query: s.ingestQuery,
  body: { raw: 'audio/*' },
  responses: {
    202: { description: 'Accepted and queued for transfer', schema: s.recording },
    200: { description: 'Idempotent repeat: the first recording', schema: s.recording },
    400: { description: 'Missing callId or empty body', schema: s.problem },
    409: { description: 'Idempotency-Key reused with different bytes', schema: s.problem },
    413: { description: 'Larger than CUSTODY_MAX_RECORDING_BYTES', schema: s.problem },
    415: { description: 'Not audio/*', schema: s.problem },
    429: { description: 'Tenant spool quota full', schema: s.problem },
  },
  handler: async ({ ctx, req, principal, tenantId, query }) => {
    const contentType = req.headers['content-type'];
    if (!contentType || !AUDIO.test(contentType)) {
      throw new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the recording with an audio/* Content-Type.');
    }
    const idempotencyKey = req.headers['idempotency-key'];
    if (
      idempotencyKey !== undefined &&
      (typeof idempotencyKey !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(idempotencyKey))
    ) {
      throw badRequest('Idempotency-Key must be 1-128 visible ASCII characters.');
    }
    const length = req.headers['content-length'];
    const { status, view } = await ingestRecording(ctx, {
      tenantId: tenantId!,
      actor: actorOf(principal!),
      contentType: contentType.split(';')[0]!.trim().toLowerCase(),
      declaredLength: length === undefined ? undefined : Number(length),
      idempotencyKey,
      callId: query.callId,
      agentId: query.agentId,
      startedAt: query.startedAt ? new Date(query.startedAt) : undefined,
      direction: query.direction,
      body: req,
      source: 'http',
    });
    return { status, body: view };
  },
});
