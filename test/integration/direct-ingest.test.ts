import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inboundSignature } from '../../src/jobs/inbound.js';
import { api, setupTenant, waitForStatus } from '../support/client.js';
import { type Harness, REDIS_URL, startHarness } from '../support/harness.js';

const INBOX_KEY = randomBytes(32);

describe('direct queue ingest from a shared inbox', () => {
  let h: Harness;
  let key: string;
  let inbox: string;
  let queue: Queue;
  let events: QueueEvents;

  beforeAll(async () => {
    inbox = await mkdtemp(path.join(os.tmpdir(), 'custody-inbox-'));
    h = await startHarness({
      env: { CUSTODY_INBOX_HMAC_KEY: INBOX_KEY.toString('base64'), CUSTODY_INBOX_DIR: inbox },
    });
    ({ key } = await setupTenant(h, 'inbox'));
    await mkdir(path.join(inbox, 'inbox'), { recursive: true });
    const connection = { url: REDIS_URL };
    queue = new Queue('inbound', { connection, prefix: h.prefix });
    events = new QueueEvents('inbound', { connection, prefix: h.prefix });
    await events.waitUntilReady();
  });
  afterAll(async () => {
    await queue?.close();
    await events?.close();
    await h?.close();
    await rm(inbox, { recursive: true, force: true });
  });

  /** What a producer in any language does: drop the file, sign the job, add it. */
  async function produce(file: string, fields: Record<string, unknown> = {}, signWith = INBOX_KEY) {
    const payload: Record<string, unknown> = {
      v: 1,
      tenantId: 'inbox',
      file,
      contentType: 'audio/wav',
      callId: `call-${file}`,
      ...fields,
    };
    payload.hmac = inboundSignature(signWith, payload);
    const job = await queue.add('ingest', payload);
    return job.waitUntilFinished(events, 30_000);
  }

  it('moves a dropped file into the encrypted spool and stores it', async () => {
    const audio = randomBytes(300_000);
    await writeFile(path.join(inbox, 'inbox', 'rec-1'), audio);
    const { recordingId } = await produce('rec-1');
    const stored = await waitForStatus(h, key, recordingId, ['stored']);
    expect(stored.sha256).toBe(createHash('sha256').update(audio).digest('hex'));
    expect(await readdir(path.join(inbox, 'inbox'))).not.toContain('rec-1');
    const link = await api(h, 'POST', `/v1/recordings/${recordingId}/playback-link`, {
      token: key,
      json: {},
    });
    expect((await api(h, 'GET', link.body.url, { token: null })).bytes.equals(audio)).toBe(true);
  });

  it('refuses a job whose HMAC does not verify, leaving the file alone', async () => {
    await writeFile(path.join(inbox, 'inbox', 'rec-2'), randomBytes(1000));
    await expect(produce('rec-2', {}, randomBytes(32))).rejects.toThrow(/HMAC/);
    expect(await readdir(path.join(inbox, 'inbox'))).toContain('rec-2');
  });

  it('refuses symlinks and hard-linked files', async () => {
    const secret = path.join(h.dataDir, 'not-for-you');
    await writeFile(secret, randomBytes(1000));
    await symlink(secret, path.join(inbox, 'inbox', 'sym'));
    await expect(produce('sym')).rejects.toThrow(/ELOOP/);
    await link(secret, path.join(inbox, 'inbox', 'hard'));
    await expect(produce('hard')).rejects.toThrow(/one link/);
  });

  it('refuses file names that are not bare names', async () => {
    await expect(produce('../inbox/rec-1')).rejects.toThrow(/schema/);
  });

  it('creates one recording however often a job is delivered', async () => {
    const audio = randomBytes(5000);
    await writeFile(path.join(inbox, 'inbox', 'rec-3'), audio);
    const first = await produce('rec-3', { idempotencyKey: 'recorder-42' });
    await writeFile(path.join(inbox, 'inbox', 'rec-3'), audio);
    const again = await produce('rec-3', { idempotencyKey: 'recorder-42' });
    expect(again.recordingId).toBe(first.recordingId);
  });
});
