import { randomBytes } from 'node:crypto';
import { mkdir, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CRASH } from '../../src/jobs/transfer.js';
import { api, postRecording, setupTenant } from '../support/client.js';
import { type Harness, startHarness } from '../support/harness.js';
import {
  auditEntries,
  countAudit,
  expectStoredExactlyOnce,
  row,
  spoolFileOf,
  targetFiles,
  waitForAll,
  waitUntil,
} from '../support/observe.js';
import { killWorker, spawnWorker, type WorkerProcess, withDeadline } from '../support/worker-process.js';

const MiB = 1024 * 1024;
const SLOW = 180_000;

type Rec = { id: string; audio: Buffer };

/**
 * Deleting a recording at every stage of its transfer, a tenant's bucket going missing
 * (`blocked`), and a spooled copy lost behind the service's back (`failed`). Workers run
 * in-process and are started and stopped per scenario.
 */
describe('DELETE at every stage, blocked transfers, lost spool copies', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ workers: false });
  });
  afterAll(async () => {
    await h?.close();
  });

  async function post(key: string, size: number, callId: string): Promise<Rec> {
    const audio = randomBytes(size);
    const res = await postRecording(h, key, audio, { callId });
    expect(res.status, String(res.bytes)).toBe(202);
    return { id: res.body.id, audio };
  }

  const del = (key: string, id: string) => api(h, 'DELETE', `/v1/recordings/${id}`, { token: key });
  const jobOf = (id: string) => h.ctx.producer.transfer.getJob(id);

  /** Gone everywhere: row `deleted` (audited once), no spool copy, no object, no job, not playable. */
  async function expectGone(key: string, tenantId: string, id: string): Promise<void> {
    await waitForAll(h, key, [id], ['deleted']);
    // A transfer still running when the delete landed removes its own upload when it ends.
    await waitUntil('the transfer job to be gone', async () => (await jobOf(id)) === undefined);
    await waitUntil('the upload to be removed', async () => {
      const t = await targetFiles(h, tenantId);
      const mine = [...t.complete, ...t.partial, ...t.partialDirs].filter((f) => f.includes(id));
      return mine.length === 0;
    });
    const r = await row(h, id);
    expect(r.status).toBe('deleted');
    expect(r.spool_file).toBeNull();
    expect(await spoolFileOf(h, tenantId, id)).toBe(false);
    const audit = await auditEntries(h, tenantId);
    expect(countAudit(audit, 'recording.deleted', id)).toBe(1);
    expect(countAudit(audit, 'recording.stored', id)).toBe(0);
    const link = await api(h, 'POST', `/v1/recordings/${id}/playback-link`, { token: key, json: {} });
    expect(link.status).toBe(409);
  }

  it(
    'while queued (no worker running): the job is cancelled and the spool copy removed',
    async () => {
      await h.stopWorkers();
      const tenantId = 'del-queued';
      const { key } = await setupTenant(h, tenantId);
      const keep = await post(key, 300_000, 'keep');
      const gone = await post(key, 400_000, 'gone');
      expect(await jobOf(gone.id)).toBeDefined();

      const res = await del(key, gone.id);
      expect(res.status).toBe(202);
      expect(res.body.status).toBe('deleting');
      // The queued job is cancelled right away, before any worker could pick it up.
      expect(await jobOf(gone.id)).toBeUndefined();

      await h.startWorkers();
      await expectGone(key, tenantId, gone.id);
      await expectStoredExactlyOnce(h, key, tenantId, [keep]);
      // A second DELETE is a no-op.
      expect((await del(key, gone.id)).body.status).toBe('deleted');
    },
    SLOW,
  );

  it(
    'while transferring: the object uploaded meanwhile is removed too',
    async () => {
      await h.startWorkers();
      const tenantId = 'del-transferring';
      const { key } = await setupTenant(h, tenantId);
      const big = await post(key, 48 * MiB + 99, 'big');
      await waitUntil(
        'the upload to be under way',
        async () =>
          (await row(h, big.id)).status === 'transferring' &&
          (await targetFiles(h, tenantId)).partial.length > 0,
        60_000,
        10,
      );
      const res = await del(key, big.id);
      expect(res.status).toBe(202);
      expect(res.body.status).toBe('deleting');
      await expectGone(key, tenantId, big.id);
      const t = await targetFiles(h, tenantId);
      expect([...t.complete, ...t.partial, ...t.partialDirs]).toEqual([]);
    },
    SLOW,
  );

  it(
    'while blocked (bucket gone): blocked with the reason, spool kept; retry after the fix stores it; a blocked one can be deleted',
    async () => {
      await h.startWorkers();
      const tenantId = 'del-blocked';
      const { key } = await setupTenant(h, tenantId);
      // The tenant's "bucket" disappears after registration.
      const tenantDir = path.join(h.dataDir, 'storage', tenantId);
      await rm(tenantDir, { recursive: true, force: true });

      const fixed = await post(key, 2 * MiB + 5, 'fixed-later');
      const dropped = await post(key, 1 * MiB + 7, 'deleted-while-blocked');
      const views = await waitForAll(h, key, [fixed.id, dropped.id], ['blocked']);
      for (const v of views) {
        expect(v.error?.code).toBe('NoSuchBucket');
        expect(v.error?.message).toBeTruthy();
        expect(await spoolFileOf(h, tenantId, v.id)).toBe(true);
      }
      const audit = await auditEntries(h, tenantId);
      expect(countAudit(audit, 'recording.blocked', fixed.id)).toBe(1);
      // The service must not quietly recreate the tenant's bucket.
      expect(await targetFiles(h, tenantId)).toEqual({ complete: [], partial: [], partialDirs: [] });

      // Retrying before the tenant fixed anything blocks again, with the spool copy still kept.
      expect((await api(h, 'POST', `/v1/recordings/${fixed.id}/retry`, { token: key })).status).toBe(202);
      await waitUntil('the retry to be attempted', async () => (await row(h, fixed.id)).attempts >= 2);
      await waitForAll(h, key, [fixed.id], ['blocked']);
      expect(await spoolFileOf(h, tenantId, fixed.id)).toBe(true);

      // Deleted while blocked: nothing can be in the missing bucket; the spool copy goes.
      const res = await del(key, dropped.id);
      expect(res.status).toBe(202);
      await expectGone(key, tenantId, dropped.id);

      // The tenant restores its bucket and asks for a retry.
      await mkdir(path.join(tenantDir, 'default'), { recursive: true, mode: 0o700 });
      const retry = await api(h, 'POST', `/v1/recordings/${fixed.id}/retry`, { token: key });
      expect(retry.status).toBe(202);
      await expectStoredExactlyOnce(h, key, tenantId, [fixed]);
      // Only blocked recordings can be retried.
      expect((await api(h, 'POST', `/v1/recordings/${fixed.id}/retry`, { token: key })).status).toBe(409);
      expect((await api(h, 'POST', `/v1/recordings/${dropped.id}/retry`, { token: key })).status).toBe(409);
    },
    SLOW,
  );

  it(
    'a spool copy deleted behind the service’s back ends failed with SPOOL_LOST, never stored',
    async () => {
      await h.stopWorkers();
      const tenantId = 'spool-lost';
      const { key } = await setupTenant(h, tenantId);
      const lost = await post(key, 700_000, 'lost');
      const fine = await post(key, 600_000, 'fine');
      await unlink(path.join(h.dataDir, 'spool', tenantId, `${lost.id}.spool`));

      await h.startWorkers();
      const [v] = await waitForAll(h, key, [lost.id], ['failed', 'stored']);
      expect(v.status).toBe('failed');
      expect(v.error?.code).toBe('SPOOL_LOST');
      expect(v.storage).toBeUndefined();
      await expectStoredExactlyOnce(h, key, tenantId, [fine]);

      const audit = await auditEntries(h, tenantId);
      expect(countAudit(audit, 'recording.failed', lost.id)).toBe(1);
      expect(countAudit(audit, 'recording.stored', lost.id)).toBe(0);
      const t = await targetFiles(h, tenantId);
      expect(t.complete.filter((f) => f.includes(lost.id))).toEqual([]);
      // Failed is final: a reconciler pass or a retry does not resurrect it.
      expect((await api(h, 'POST', `/v1/recordings/${lost.id}/retry`, { token: key })).status).toBe(409);
      const playback = await api(h, 'POST', `/v1/recordings/${lost.id}/playback-link`, {
        token: key,
        json: {},
      });
      expect(playback.status).toBe(409);
      expect((await row(h, lost.id)).status).toBe('failed');
    },
    SLOW,
  );

  it(
    'a spool copy lost while blocked also ends failed, and can then be deleted',
    async () => {
      await h.startWorkers();
      const tenantId = 'spool-lost-blocked';
      const { key } = await setupTenant(h, tenantId);
      const tenantDir = path.join(h.dataDir, 'storage', tenantId);
      await rm(tenantDir, { recursive: true, force: true });
      const r = await post(key, 800_000, 'lost-while-blocked');
      await waitForAll(h, key, [r.id], ['blocked']);
      await unlink(path.join(h.dataDir, 'spool', tenantId, `${r.id}.spool`));
      await mkdir(path.join(tenantDir, 'default'), { recursive: true, mode: 0o700 });
      expect((await api(h, 'POST', `/v1/recordings/${r.id}/retry`, { token: key })).status).toBe(202);
      const [v] = await waitForAll(h, key, [r.id], ['failed', 'stored']);
      expect(v.status).toBe('failed');
      expect(v.error?.code).toBe('SPOOL_LOST');
      expect(await targetFiles(h, tenantId)).toEqual({ complete: [], partial: [], partialDirs: [] });
      expect((await del(key, r.id)).status).toBe(202);
      await expectGone(key, tenantId, r.id);
    },
    SLOW,
  );

  it(
    'after a worker died mid-upload or between store and mark: the leftover object goes too',
    async () => {
      await h.stopWorkers();
      const cases = [
        { tenantId: 'del-after-store', point: CRASH.afterStore },
        { tenantId: 'del-mid-upload', point: CRASH.midUpload },
      ];
      const done: { key: string; tenantId: string; id: string }[] = [];
      for (const { tenantId, point } of cases) {
        const { key } = await setupTenant(h, tenantId);
        const rec = await post(key, 4 * MiB + 3, point);
        let w: WorkerProcess | undefined = spawnWorker(h.env, { CUSTODY_TEST_CRASH_AT: point });
        try {
          const exit = await withDeadline(w.exited, 60_000, () => `no crash at ${point}:\n${w?.output()}`);
          expect(exit.signal, w.output()).toBe('SIGKILL');
        } finally {
          await killWorker(w);
          w = undefined;
        }
        // What the dead worker left: a complete object, or an upload in progress.
        const t = await targetFiles(h, tenantId);
        const left = point === CRASH.afterStore ? t.complete : t.partial;
        expect(left.some((f) => f.includes(rec.id))).toBe(true);
        expect((await row(h, rec.id)).status).toBe('transferring');

        const res = await del(key, rec.id);
        expect(res.status).toBe(202);
        expect(res.body.status).toBe('deleting');
        done.push({ key, tenantId, id: rec.id });
      }
      await h.startWorkers();
      for (const { key, tenantId, id } of done) {
        await expectGone(key, tenantId, id);
        expect(await targetFiles(h, tenantId)).toEqual({ complete: [], partial: [], partialDirs: [] });
      }
    },
    SLOW,
  );
});
