import type { Context } from '../../context.js';
import { insertPlaybackLink } from '../../db/playback-links.js';
import { transaction } from '../../db/pool.js';
import type { RecordingRow } from '../../db/recordings.js';
import { conflict } from '../../errors.js';
import { appendAudit } from '../audit.js';
import { LinkSigner } from '../link-signer.js';

/**
 * A time-bounded link a browser `<audio>` element can play with no other credential.
 * `onBehalfOf` (the person the CRM acts for) goes to the audit trail, never into the URL.
 */
export async function createPlaybackLink(
  ctx: Context,
  actor: string,
  recording: RecordingRow,
  input: { ttlSeconds?: number; onBehalfOf?: string },
): Promise<{ url: string; expiresAt: string }> {
  if (recording.status !== 'stored') {
    throw conflict(
      `The recording is ${recording.status}; only stored recordings can be played.`,
      'NOT_PLAYABLE',
    );
  }
  const ttl = input.ttlSeconds ?? ctx.config.linkTtlSeconds;
  const exp = Math.floor(Date.now() / 1000) + ttl;
  const expiresAt = new Date(exp * 1000);
  const lid = LinkSigner.newLinkId();
  await transaction(ctx.db, async (tx) => {
    await insertPlaybackLink(tx, {
      id: lid,
      tenantId: recording.tenant_id,
      recordingId: recording.id,
      expiresAt,
      onBehalfOf: input.onBehalfOf ?? null,
      createdBy: actor,
    });
    await appendAudit(tx, recording.tenant_id, {
      actor,
      action: 'playback.link-created',
      target: `recording:${recording.id}`,
      detail: { linkId: lid, expiresAt: expiresAt.toISOString(), onBehalfOf: input.onBehalfOf ?? null },
    });
  });
  const token = await ctx.links.sign({ lid, t: recording.tenant_id, r: recording.id, exp });
  return { url: `${ctx.config.publicUrl}/v1/playback/${token}`, expiresAt: expiresAt.toISOString() };
}
