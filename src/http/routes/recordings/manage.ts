import { requestDelete } from '../../../domain/recordings/delete.js';
import { putLegalHold, retryBlocked } from '../../../domain/recordings/holds-and-retries.js';
import { createPlaybackLink } from '../../../domain/recordings/playback-link.js';
import { recordingView } from '../../../domain/recordings/view.js';
import { actorOf } from '../../../domain/scopes.js';
import { defineRoute } from '../../route.js';
import * as s from '../../schemas.js';

const problem = (description: string) => ({ description, schema: s.problem });

export const manageRoutes = [
  defineRoute({
    method: 'delete',
    path: '/v1/recordings/:id',
    summary: 'Delete a recording everywhere (data-subject deletion); refused under legal hold',
    tags: ['recordings'],
    access: { kind: 'recording', scopes: ['recordings:delete', 'tenant:admin'] },
    params: s.recordingParams,
    responses: { 202: { description: 'Deleting', schema: s.recording }, 409: problem('On legal hold') },
    handler: async ({ ctx, principal, recording }) => ({
      status: 202,
      body: recordingView(await requestDelete(ctx, actorOf(principal!), recording!.id, 'request')),
    }),
  }),
  defineRoute({
    method: 'put',
    path: '/v1/recordings/:id/legal-hold',
    summary: 'Place or release a legal hold',
    tags: ['recordings'],
    access: { kind: 'recording', scopes: ['tenant:admin'] },
    params: s.recordingParams,
    body: s.legalHoldBody,
    responses: { 200: { description: 'Updated', schema: s.recording }, 409: problem('Deleted or deleting') },
    handler: async ({ ctx, principal, recording, body }) => ({
      status: 200,
      body: await putLegalHold(ctx, actorOf(principal!), recording!.id, body.hold, body.reason),
    }),
  }),
  defineRoute({
    method: 'post',
    path: '/v1/recordings/:id/retry',
    summary: 'Retry a blocked recording now',
    tags: ['recordings'],
    access: { kind: 'recording', scopes: ['tenant:admin'] },
    params: s.recordingParams,
    responses: { 202: { description: 'Queued', schema: s.recording }, 409: problem('Not blocked') },
    handler: async ({ ctx, principal, recording }) => ({
      status: 202,
      body: await retryBlocked(ctx, actorOf(principal!), recording!.id),
    }),
  }),
  defineRoute({
    method: 'post',
    path: '/v1/recordings/:id/playback-link',
    summary: 'A signed, time-bounded playback link',
    tags: ['playback'],
    access: { kind: 'recording', scopes: ['recordings:read'] },
    params: s.recordingParams,
    body: s.playbackLinkBody,
    responses: { 201: { description: 'Created', schema: s.playbackLink }, 409: problem('Not stored yet') },
    handler: async ({ ctx, principal, recording, body }) => ({
      status: 201,
      body: await createPlaybackLink(ctx, actorOf(principal!), recording!, body),
    }),
  }),
];
