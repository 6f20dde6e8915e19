import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseHeader } from '../../src/crypto/index.js';
import { KEY_JOB_CRASH } from '../../src/jobs/key-jobs/relocate.js';
import { api, postRecording, setupTenant } from '../support/client.js';
import { type Harness, startHarness } from '../support/harness.js';
import {
  getKeyJob,
  localObjects,
  objectsOf,
  sidecarBeside,
  sidecarsOf,
  startKeyJob,
  waitForKeyJob,
} from '../support/key-jobs.js';
import {
  auditEntries,
  countAudit,
  DEADLINE_MS,
  playBack,
  row,
  waitForAll,
  waitUntil,
} from '../support/observe.js';
import { expectProblem } from './contract-helpers.js';
import { killWorker, spawnWorker, type WorkerProcess, withDeadline } from '../support/worker-process.js';

type Rec = { id: string; audio: Buffer };
const SLOW = 240_000;

async function postSome(h: Harness, key: string, sizes: number[]): Promise<Rec[]> {
  const out: Rec[] = [];
  for (const [i, size] of sizes.entries()) {
    const audio = randomBytes(size);
    const res = await postRecording(h, key, audio, { callId: `call-${i}` });
    expect(res.status, res.bytes.toString()).toBe(202);
    out.push({ id: res.body.id, audio });
  }
  await waitForAll(
    h,
    key,
    out.map((r) => r.id),
    ['stored'],
  );
  return out;
}

async function register(h: Harness, tenantId: string, body: Record<string, unknown>): Promise<number> {
  const res = await api(h, 'PUT', `/v1/tenants/${tenantId}/storage`, { json: body });
  expect(res.status, res.bytes.toString()).toBe(200);
  return res.body.version;
}

async function expectPlays(h: Harness, key: string, recs: Rec[]): Promise<void> {
  for (const r of recs)
    expect((await playBack(h, key, r.id)).equals(r.audio), `playback of ${r.id}`).toBe(true);
}

/**
 * Each recording has exactly one complete object, the one its row names, on `version`, and
 * its metadata sidecar beside it (moved with it); nothing else is there.
 */
async function expectOneObjectEach(
  h: Harness,
  tenantId: string,
  recs: Rec[],
  version: number,
): Promise<void> {
  const objects = await localObjects(h, tenantId);
  for (const r of recs) {
    const mine = objectsOf(objects, r.id);
    expect(mine, `objects of ${r.id}`).toHaveLength(1);
    const rr = await row(h, r.id);
    expect(rr.storage_version).toBe(version);
    expect(mine[0]!.endsWith(rr.object_key.split('/').join(path.sep))).toBe(true);
    expect(sidecarsOf(objects, r.id), `sidecar of ${r.id}`).toEqual([sidecarBeside(mine[0]!)]);
  }
  expect(objects, 'no stray objects').toHaveLength(2 * recs.length);
}

describe('key rotation and storage switch on the local provider', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('a new version applies to new recordings; old ones stay on theirs; migrate moves them, they still play', async () => {
    const { key } = await setupTenant(h, 'kr-switch');
    const old = await postSome(h, key, [300_000, 5, 1]);
    const v2 = await register(h, 'kr-switch', { provider: 'local', path: 'v2' });
    expect(v2).toBe(2);
    const fresh = await postSome(h, key, [70_000]);

    // Before any job: old recordings play from the old location, the new one from the new.
    for (const r of old) expect((await row(h, r.id)).storage_version).toBe(1);
    expect((await row(h, fresh[0]!.id)).storage_version).toBe(2);
    const before = await localObjects(h, 'kr-switch');
    for (const r of old) expect(objectsOf(before, r.id)[0]!.startsWith(`default${path.sep}`)).toBe(true);
    expect(objectsOf(before, fresh[0]!.id)[0]!.startsWith(`v2${path.sep}`)).toBe(true);
    await expectPlays(h, key, [...old, ...fresh]);

    const started = await startKeyJob(h, 'kr-switch', { kind: 'migrate', ratePerSecond: 200 });
    expect(started).toMatchObject({
      status: 'running',
      total: old.length,
      kind: 'migrate',
      targetVersion: 2,
    });
    const job = await waitForKeyJob(h, 'kr-switch', started.id);
    expect(job).toMatchObject({ status: 'done', total: 3, done: 3, failed: 0, remaining: 0 });
    expect(job.finishedAt).toEqual(expect.any(String));

    // Moved: nothing left in the old location, one object each, all on version 2.
    const after = await localObjects(h, 'kr-switch');
    expect(after.filter((f) => f.startsWith(`default${path.sep}`))).toEqual([]);
    await expectOneObjectEach(h, 'kr-switch', [...old, ...fresh], 2);
    await expectPlays(h, key, [...old, ...fresh]);
    const audit = await auditEntries(h, 'kr-switch');
    for (const r of old) {
      expect(countAudit(audit, 'recording.migrated', r.id)).toBe(1);
      // Same (per-tenant) local key: a plain copy of the stored bytes.
      const entry = audit.find((e) => e.action === 'recording.migrated' && e.target === `recording:${r.id}`);
      expect(entry.detail).toMatchObject({ mode: 'copy', fromVersion: 1, toVersion: 2, jobId: started.id });
    }
    expect(
      audit.filter((e) => e.action === 'key-job.finished' && e.target === `key-job:${started.id}`),
    ).toHaveLength(1);
  });

  it('rewrap all onto a new version: new header, frames byte-identical, old objects gone, all play', async () => {
    const { key } = await setupTenant(h, 'kr-rewrap');
    const recs = await postSome(h, key, [600_000, 1000]);
    const root = path.join(h.dataDir, 'storage', 'kr-rewrap');
    const oldBytes = new Map<string, Buffer>();
    for (const r of recs)
      oldBytes.set(
        r.id,
        await readFile(path.join(root, objectsOf(await localObjects(h, 'kr-rewrap'), r.id)[0]!)),
      );
    const v2 = await register(h, 'kr-rewrap', { provider: 'local' }); // same location, new version
    const job = await waitForKeyJob(
      h,
      'kr-rewrap',
      (await startKeyJob(h, 'kr-rewrap', { kind: 'rewrap', ratePerSecond: 200 })).id,
    );
    expect(job).toMatchObject({ status: 'done', done: 2, failed: 0 });
    await expectOneObjectEach(h, 'kr-rewrap', recs, v2);
    for (const r of recs) {
      const file = objectsOf(await localObjects(h, 'kr-rewrap'), r.id)[0]!;
      expect(path.basename(file)).toBe(`${r.id}.v${v2}.esdk`);
      const now = await readFile(path.join(root, file));
      const was = oldBytes.get(r.id)!;
      const [a, b] = [parseHeader(was), parseHeader(now)];
      expect(b.info.messageId.equals(a.info.messageId)).toBe(true);
      expect(now.subarray(0, b.headerLength).equals(was.subarray(0, a.headerLength))).toBe(false);
      expect(now.subarray(b.headerLength).equals(was.subarray(a.headerLength))).toBe(true);
    }
    await expectPlays(h, key, recs);
    const audit = await auditEntries(h, 'kr-rewrap');
    for (const r of recs) expect(countAudit(audit, 'recording.rewrapped', r.id)).toBe(1);

    // Nothing left to do: a second job is done at once.
    const again = await startKeyJob(h, 'kr-rewrap', { kind: 'rewrap' });
    expect(again).toMatchObject({ status: 'done', total: 0, remaining: 0 });
  });

  it('re-encrypt one recording: a fresh data key and message id, it plays, the others are untouched', async () => {
    const { key } = await setupTenant(h, 'kr-reenc');
    const [target, other] = await postSome(h, key, [400_000, 2000]);
    const root = path.join(h.dataDir, 'storage', 'kr-reenc');
    const fileOf = async (id: string) =>
      path.join(root, objectsOf(await localObjects(h, 'kr-reenc'), id)[0]!);
    const was = parseHeader(await readFile(await fileOf(target!.id)));
    const otherBytes = await readFile(await fileOf(other!.id));
    const started = await startKeyJob(h, 'kr-reenc', { kind: 'reencrypt', recordingIds: [target!.id] });
    expect(started.total).toBe(1);
    expect((await waitForKeyJob(h, 'kr-reenc', started.id)).status).toBe('done');
    const now = parseHeader(await readFile(await fileOf(target!.id)));
    expect(now.info.messageId.equals(was.info.messageId)).toBe(false);
    expect(path.basename(await fileOf(target!.id))).toBe(`${target!.id}.v1.${started.id}.esdk`);
    expect((await readFile(await fileOf(other!.id))).equals(otherBytes)).toBe(true);
    await expectOneObjectEach(h, 'kr-reenc', [target!, other!], 1);
    await expectPlays(h, key, [target!, other!]);
    expect(countAudit(await auditEntries(h, 'kr-reenc'), 'recording.reencrypted', target!.id)).toBe(1);
  });

  it('one running job per tenant (409), cancel stops it, and every recording stays readable exactly once', async () => {
    const { key } = await setupTenant(h, 'kr-cancel');
    const recs = await postSome(h, key, [1000, 2000, 3000, 4000, 5000]);
    await register(h, 'kr-cancel', { provider: 'local', path: 'next' });
    // One recording every 5 s: the job is certainly still running when the second start comes.
    const slow = await startKeyJob(h, 'kr-cancel', { kind: 'migrate', ratePerSecond: 0.2 });
    const second = await api(h, 'POST', '/v1/tenants/kr-cancel/key-jobs', { json: { kind: 'rewrap' } });
    expectProblem(second, 409, 'KEY_JOB_RUNNING');
    const cancelled = await api(h, 'POST', `/v1/tenants/kr-cancel/key-jobs/${slow.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    // Idempotent.
    expect((await api(h, 'POST', `/v1/tenants/kr-cancel/key-jobs/${slow.id}/cancel`)).body.status).toBe(
      'cancelled',
    );
    const list = await api(h, 'GET', '/v1/tenants/kr-cancel/key-jobs');
    expect(list.body.items.map((j: { id: string }) => j.id)).toEqual([slow.id]);
    // Whatever the worker had on its way settles: one object per recording, each plays.
    await waitUntil('one object (and its sidecar) per recording', async () => {
      const objects = await localObjects(h, 'kr-cancel');
      return (
        objects.length === 2 * recs.length &&
        recs.every((r) => {
          const mine = objectsOf(objects, r.id);
          return mine.length === 1 && sidecarsOf(objects, r.id)[0] === sidecarBeside(mine[0]!);
        })
      );
    });
    await expectPlays(h, key, recs);
    const audit = await auditEntries(h, 'kr-cancel');
    expect(audit.filter((e) => e.action === 'key-job.cancelled')).toHaveLength(1);
  });

  it('bad input is 400, an unknown job 404, a tenant without storage 409', async () => {
    await setupTenant(h, 'kr-bad');
    const post = (json: unknown) => api(h, 'POST', '/v1/tenants/kr-bad/key-jobs', { json });
    expectProblem(await post({ kind: 'shuffle' }), 400, 'VALIDATION_FAILED');
    expectProblem(await post({ kind: 'rewrap', targetVersion: 99 }), 400, 'VALIDATION_FAILED');
    expectProblem(await post({ kind: 'rewrap', targetVersion: 'x' }), 400, 'VALIDATION_FAILED');
    expectProblem(await post({ kind: 'rewrap', ratePerSecond: 0 }), 400, 'VALIDATION_FAILED');
    expectProblem(await post({ kind: 'rewrap', recordingIds: ['abc'] }), 400, 'VALIDATION_FAILED');
    expectProblem(await post({ kind: 'reencrypt', recordingIds: ['../x'] }), 400, 'VALIDATION_FAILED');
    expectProblem(await post({ kind: 'reencrypt', recordingIds: ['nope'] }), 404, 'NOT_FOUND');
    expectProblem(await post({ kind: 'rewrap', extra: 1 }), 400, 'VALIDATION_FAILED');
    expectProblem(await api(h, 'GET', '/v1/tenants/kr-bad/key-jobs/kj_0000000000000000'), 404, 'NOT_FOUND');
    expectProblem(await api(h, 'GET', '/v1/tenants/kr-bad/key-jobs/..%2Fx'), 400, 'VALIDATION_FAILED');
    expectProblem(await api(h, 'GET', '/v1/tenants/kr-bad/key-jobs?limit=0'), 400, 'VALIDATION_FAILED');
    await api(h, 'POST', '/v1/tenants', { json: { id: 'kr-nostore', name: 'n', retention: 'P1D' } });
    expectProblem(
      await api(h, 'POST', '/v1/tenants/kr-nostore/key-jobs', { json: { kind: 'rewrap' } }),
      409,
      'NO_STORAGE',
    );
  });
});

/**
 * The worker is a child process killed at the job's crash points (after the new object is
 * written and verified but before the row moves; after the row moves but before the old
 * object is deleted). A fresh worker resumes the job: every recording ends on the target
 * version with exactly one object, readable, audited once.
 */
describe('key jobs killed mid-way (worker as a child process)', () => {
  let h: Harness;
  const workers: WorkerProcess[] = [];
  const spawn = (extra: Record<string, string> = {}) => {
    const w = spawnWorker(h.env, extra);
    workers.push(w);
    return w;
  };
  beforeAll(async () => {
    h = await startHarness({ workers: false });
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map(killWorker));
  });
  afterAll(async () => {
    await h?.close();
  });

  /** The API has no workers: recordings are stored by a child worker, stopped gracefully. */
  async function storedRecordings(tenantId: string, sizes: number[]) {
    const { key } = await setupTenant(h, tenantId);
    const w = spawn();
    const recs = await postSome(h, key, sizes);
    expect(await w.stop('SIGTERM'), w.output()).toEqual({ code: 0, signal: null });
    return { key, recs };
  }

  async function crashAt(point: string) {
    const w = spawn({ CUSTODY_TEST_CRASH_AT: point });
    const exit = await withDeadline(
      w.exited,
      DEADLINE_MS,
      () => `the worker never reached ${point}:\n${w.output()}`,
    );
    expect(exit, w.output()).toEqual({ code: null, signal: 'SIGKILL' });
  }

  async function resumeAndCheck(
    tenantId: string,
    key: string,
    jobId: string,
    recs: Rec[],
    version: number,
    action: string,
  ) {
    const w = spawn();
    let job: any;
    try {
      job = await waitForKeyJob(h, tenantId, jobId, 120_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- worker output ---\n${w.output()}`);
    }
    expect(job).toMatchObject({
      status: 'done',
      total: recs.length,
      done: recs.length,
      failed: 0,
      remaining: 0,
    });
    await expectOneObjectEach(h, tenantId, recs, version);
    const audit = await auditEntries(h, tenantId);
    for (const r of recs) expect(countAudit(audit, action, r.id), `${action} of ${r.id}`).toBe(1);
    expect(await w.stop('SIGTERM'), w.output()).toEqual({ code: 0, signal: null });
    await expectPlays(h, key, recs);
  }

  it(
    'killed after the new object is written, before the row moves: resumed, each recording stored once',
    async () => {
      const tenantId = 'kr-crash-put';
      const { key, recs } = await storedRecordings(tenantId, [300_000, 200_000, 1000]);
      const v2 = await register(h, tenantId, { provider: 'local', path: 'v2' });
      const job = await startKeyJob(h, tenantId, { kind: 'rewrap', ratePerSecond: 100 });
      await crashAt(KEY_JOB_CRASH.afterPut);

      // The crash left a verified copy in the new location while its row still names the old
      // one (the job works on several recordings at once: others may be at any step).
      const objects = await localObjects(h, tenantId);
      const doubled = recs.filter((r) => objectsOf(objects, r.id).length === 2);
      const versions = await Promise.all(doubled.map(async (r) => (await row(h, r.id)).storage_version));
      expect(versions).toContain(1);
      expect((await getKeyJob(h, tenantId, job.id)).status).toBe('running');
      await expectPlays(h, key, recs);

      await resumeAndCheck(tenantId, key, job.id, recs, v2, 'recording.rewrapped');
    },
    SLOW,
  );

  it(
    'SIGTERM while a slow job runs: the worker exits 0 at once, and the next worker finishes the job',
    async () => {
      const tenantId = 'kr-sigterm';
      const { key, recs } = await storedRecordings(tenantId, [1000, 2000, 3000, 4000]);
      const v2 = await register(h, tenantId, { provider: 'local', path: 'v2' });
      // One recording every 2 s: the whole job would keep a waiting worker ~6 s.
      const job = await startKeyJob(h, tenantId, { kind: 'migrate', ratePerSecond: 0.5 });
      const w = spawn();
      await waitUntil(
        'the first recording to move',
        async () => (await getKeyJob(h, tenantId, job.id)).done >= 1,
      );
      const stopping = Date.now();
      expect(await w.stop('SIGTERM'), w.output()).toEqual({ code: 0, signal: null });
      expect(Date.now() - stopping).toBeLessThan(4000);
      const left = await getKeyJob(h, tenantId, job.id);
      expect(left.status).toBe('running');
      expect(left.done).toBeLessThan(recs.length);
      await resumeAndCheck(tenantId, key, job.id, recs, v2, 'recording.migrated');
    },
    SLOW,
  );

  it(
    'killed after the row moves, before the old object is deleted: the old copy is removed on resume',
    async () => {
      const tenantId = 'kr-crash-switch';
      const { key, recs } = await storedRecordings(tenantId, [250_000, 3000, 77]);
      const v2 = await register(h, tenantId, { provider: 'local', path: 'v2' });
      const job = await startKeyJob(h, tenantId, { kind: 'migrate', ratePerSecond: 100 });
      await crashAt(KEY_JOB_CRASH.afterSwitch);

      // Switched but not cleaned: the row names the new object, the old one is still there.
      const objects = await localObjects(h, tenantId);
      const doubled = recs.filter((r) => objectsOf(objects, r.id).length === 2);
      const versions = await Promise.all(doubled.map(async (r) => (await row(h, r.id)).storage_version));
      expect(versions).toContain(v2);
      await expectPlays(h, key, recs);

      await resumeAndCheck(tenantId, key, job.id, recs, v2, 'recording.migrated');
    },
    SLOW,
  );
});
