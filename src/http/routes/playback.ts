import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Response } from 'express';
import { z } from 'zod';
import type { Context } from '../../context.js';
import { markFirstUse } from '../../db/playback-links.js';
import { getRecording } from '../../db/recordings.js';
import { appendAudit } from '../../domain/audit.js';
import { looksLikeToken } from '../../domain/link-signer.js';
import { openStoredRecording } from '../../domain/recordings/open-stored.js';
import { AppError } from '../../errors.js';
import { sendProblem, toAppError } from '../problem.js';
import { parseRange } from '../range.js';
import { defineRoute } from '../route.js';
import * as s from '../schemas.js';

const invalid = () => new AppError(401, 'LINK_INVALID', 'The playback link is not valid.');

/** Waits for the first plaintext chunk, so an integrity failure can still be a clean 502. */
function firstChunk(stream: Readable): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.off('readable', onReadable);
      stream.off('error', onError);
      stream.off('end', onEnd);
    };
    const onReadable = () => {
      const chunk = stream.read() as Buffer | null;
      if (chunk === null) return;
      cleanup();
      resolve(chunk);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onEnd = () => {
      cleanup();
      resolve(null);
    };
    stream.on('readable', onReadable);
    stream.once('error', onError);
    stream.once('end', onEnd);
  });
}

async function serve(
  ctx: Context,
  token: string,
  method: string,
  rangeHeader: string | undefined,
  res: Response,
) {
  // Order fixed by the contract: signature, then expiry, then the recording's state.
  const verdict = looksLikeToken(token)
    ? await ctx.links.verify(token)
    : ({ ok: false, reason: 'invalid' } as const);
  if (!verdict.ok) {
    if (verdict.reason === 'expired')
      throw new AppError(410, 'LINK_EXPIRED', 'The playback link has expired.');
    throw invalid();
  }
  const { claims } = verdict;
  const r = await getRecording(ctx.db, claims.r);
  if (!r || r.tenant_id !== claims.t) throw invalid();
  if (r.status === 'deleting' || r.status === 'deleted') {
    throw new AppError(410, 'RECORDING_DELETED', 'The recording has been deleted.');
  }
  if (r.status !== 'stored') throw new AppError(409, 'NOT_PLAYABLE', `The recording is ${r.status}.`);

  const range = parseRange(rangeHeader, r.size);
  if (range.kind === 'unsatisfiable') {
    res.setHeader('Content-Range', `bytes */${r.size}`);
    throw new AppError(416, 'RANGE_NOT_SATISFIABLE', `The recording has ${r.size} bytes.`);
  }
  const opened = await openStoredRecording(ctx, r);

  const first = await markFirstUse(ctx.db, claims.lid);
  if (first) {
    await appendAudit(ctx.db, r.tenant_id, {
      actor: first.created_by,
      action: 'playback.link-used',
      target: `recording:${r.id}`,
      detail: { linkId: claims.lid, onBehalfOf: first.on_behalf_of },
    });
  }

  const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, r.size - 1];
  res.setHeader('Content-Type', r.content_type);
  res.setHeader('Content-Length', String(Math.max(0, end - start + 1)));
  if (range.kind === 'partial') res.setHeader('Content-Range', `bytes ${start}-${end}/${r.size}`);
  res.status(range.kind === 'partial' ? 206 : 200);
  if (method === 'HEAD' || r.size === 0) {
    res.end();
    return;
  }
  const stream = opened.stream({ start, end });
  const head = await firstChunk(stream);
  // From here on the status line is sent: an integrity failure can only abort the connection.
  res.flushHeaders();
  if (head) res.write(head);
  await pipeline(stream, res, { end: true });
}

export const playbackRoute = defineRoute({
  method: 'get',
  path: '/v1/playback/:token',
  summary: 'Play a recording through a signed link (GET and HEAD, Range supported)',
  tags: ['playback'],
  access: { kind: 'public' },
  head: true,
  params: z.object({ token: z.string().max(4096) }),
  responses: {
    200: { description: 'The decrypted audio', contentType: 'audio/*' },
    206: { description: 'The requested range', contentType: 'audio/*' },
    401: { description: 'LINK_INVALID', schema: s.problem },
    410: { description: 'LINK_EXPIRED or RECORDING_DELETED', schema: s.problem },
    416: { description: 'Range not satisfiable', schema: s.problem },
    502: { description: 'INTEGRITY_ERROR before the first byte', schema: s.problem },
  },
  handler: async ({ ctx, req, res, params }) => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Accept-Ranges', 'bytes');
    try {
      await serve(ctx, params.token, req.method, req.headers.range, res);
      ctx.metrics.playbackRequests.inc({ status: String(res.statusCode) });
    } catch (err) {
      const known = toAppError(err);
      ctx.metrics.playbackRequests.inc({ status: String(known?.status ?? 500) });
      if (res.headersSent) {
        ctx.log.warn({ err: (err as Error).message }, 'playback aborted mid-stream');
        res.destroy();
        return undefined;
      }
      if (known) {
        sendProblem(res, known);
        return undefined;
      }
      throw err;
    }
    return undefined;
  },
});
