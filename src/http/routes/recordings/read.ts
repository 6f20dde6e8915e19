import { z } from 'zod';
import { listRecordings } from '../../../db/recordings.js';
import { recordingView } from '../../../domain/recordings/view.js';
import { badRequest } from '../../../errors.js';
import { defineRoute } from '../../route.js';
import * as s from '../../schemas.js';

const encodeCursor = (createdAt: Date, id: string) =>
  Buffer.from(JSON.stringify([createdAt.toISOString(), id])).toString('base64url');

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    const createdAt = new Date(at);
    if (typeof id !== 'string' || Number.isNaN(createdAt.getTime())) throw new Error('bad');
    return { createdAt, id };
  } catch {
    throw badRequest('Invalid cursor.');
  }
}

export const readRoutes = [
  defineRoute({
    method: 'get',
    path: '/v1/recordings',
    summary: 'List recordings, newest first',
    tags: ['recordings'],
    access: { kind: 'tenant-key', scopes: ['recordings:read'] },
    query: s.listQuery,
    responses: {
      200: {
        description: 'A page',
        schema: z.object({ items: z.array(s.recording), nextCursor: z.string().optional() }),
      },
    },
    handler: async ({ ctx, tenantId, query }) => {
      const rows = await listRecordings(ctx.db, {
        tenantId: tenantId!,
        callId: query.callId,
        status: query.status,
        limit: query.limit + 1,
        after: query.cursor ? decodeCursor(query.cursor) : undefined,
      });
      const page = rows.slice(0, query.limit);
      const last = page[page.length - 1];
      return {
        status: 200,
        body: {
          items: page.map(recordingView),
          ...(rows.length > query.limit && last
            ? { nextCursor: encodeCursor(last.created_at, last.id) }
            : {}),
        },
      };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/recordings/:id',
    summary: 'A recording’s status and metadata',
    tags: ['recordings'],
    access: { kind: 'recording', scopes: ['recordings:read'] },
    params: s.recordingParams,
    responses: {
      200: { description: 'The recording', schema: s.recording },
      404: { description: 'Not found', schema: s.problem },
    },
    handler: async ({ recording }) => ({ status: 200, body: recordingView(recording!) }),
  }),
];
