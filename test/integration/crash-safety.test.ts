import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CRASH } from '../../src/jobs/transfer.js';
import { postRecording, setupTenant } from '../support/client.js';
import { type Harness, startHarness } from '../support/harness.js';
import {
  auditEntries,
  countAudit,
  DEADLINE_MS,
  expectStoredExactlyOnce,
  objectOf,
  row,
  spoolFileOf,
  targetFiles,
  waitUntil,
} from '../support/observe.js';
import { killWorker, spawnWorker, type WorkerProcess, withDeadline } from '../support/worker-process.js';

const MiB = 1024 * 1024;
/** Each test starts two or three worker processes (seconds each on a busy machine). */
const SLOW = 240_000;

/**
 * The worker runs as a child process (`custody worker`) with this file's harness env and
 * is SIGKILLed at fixed points of a transfer (it kills itself at `CUSTODY_TEST_CRASH_AT`).
 * The API stays in-process with no workers of its own. A fresh worker without the crash
 * point must then finish every recording exactly once.
 */
describe('crash safety of transfers (worker as a child process)', () => {
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
    // Whatever a failed test left running must not run into the next one.
    await Promise.all(workers.splice(0).map(killWorker));
  });
  afterAll(async () => {
    await h?.close();
  });

  /** Several recordings of a few MiB each, distinct sizes (frames, partial last frame). */
  async function postSeveral(key: string, n: number, base = 4 * MiB) {
    const out: { id: string; audio: Buffer }[] = [];
    for (let i = 0; i < n; i++) {
      const audio = randomBytes(base + i * 333_333 + 17);
      const res = await postRecording(h, key, audio, { callId: `call-${i}` });
      expect(res.status).toBe(202);
      out.push({ id: res.body.id, audio });
    }
    return out;
  }

  /** Runs a worker that must kill itself at `point`; resolves once it is gone. */
  async function crashAt(point: string) {
    const w = spawn({ CUSTODY_TEST_CRASH_AT: point });
    const exit = await withDeadline(
      w.exited,
      DEADLINE_MS,
      () => `the worker never reached ${point}:\n${w.output()}`,
    );
    expect(exit, w.output()).toEqual({ code: null, signal: 'SIGKILL' });
  }

  /** A fresh worker without the crash point; stopped gracefully once all is stored. */
  /** Before recovery: no recording is stored or audited as stored, every spool copy is still there. */
  async function expectNothingStoredYet(tenantId: string, recs: { id: string }[], allowed?: string[]) {
    for (const r of recs) {
      const status = (await row(h, r.id)).status;
      if (allowed) expect(allowed).toContain(status);
      else expect(status).not.toBe('stored');
      expect(await spoolFileOf(h, tenantId, r.id)).toBe(true);
    }
    const audit = await auditEntries(h, tenantId);
    for (const r of recs) expect(countAudit(audit, 'recording.stored', r.id)).toBe(0);
  }

  async function recoverAndCheck(key: string, tenantId: string, recs: { id: string; audio: Buffer }[]) {
    const w = spawn();
    try {
      await expectStoredExactlyOnce(h, key, tenantId, recs);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- worker output ---\n${w.output()}`);
    }
    await w.started();
    expect(await w.stop('SIGTERM'), w.output()).toEqual({ code: 0, signal: null });
  }

  it(
    '(a) killed mid-upload: the partial object is there, then each recording is stored once',
    async () => {
      const tenantId = 'crash-mid-upload';
      const { key } = await setupTenant(h, tenantId);
      const recs = await postSeveral(key, 3);

      await crashAt(CRASH.midUpload);

      // The upload was cut half-way: a partial object exists and nothing complete does.
      const target = await targetFiles(h, tenantId);
      expect(target.complete).toEqual([]);
      expect(target.partial.length).toBeGreaterThanOrEqual(1);
      const root = path.join(h.dataDir, 'storage', tenantId, 'default');
      const sizes = await Promise.all(target.partial.map(async (f) => (await stat(path.join(root, f))).size));
      expect(Math.max(...sizes)).toBeGreaterThan(0);
      const cut = recs.filter((r) => target.partial.some((f) => f.includes(`${r.id}.esdk.partial`)));
      expect(cut.length).toBeGreaterThanOrEqual(1);
      for (const r of cut) expect((await row(h, r.id)).status).toBe('transferring');
      await expectNothingStoredYet(tenantId, recs, ['queued', 'transferring']);

      await recoverAndCheck(key, tenantId, recs);
    },
    SLOW,
  );

  it(
    '(b) killed after the store but before marking: the object exists, then each is stored once',
    async () => {
      const tenantId = 'crash-after-store';
      const { key } = await setupTenant(h, tenantId);
      const recs = await postSeveral(key, 3);

      await crashAt(CRASH.afterStore);

      // The complete, verified object is in the target while the row still says transferring.
      const target = await targetFiles(h, tenantId);
      const written = recs.filter((r) => objectOf(target, r.id).length === 1);
      expect(written.length).toBeGreaterThanOrEqual(1);
      for (const r of written) {
        const rr = await row(h, r.id);
        expect(rr.status).toBe('transferring');
        expect(rr.spool_file).not.toBeNull();
        expect(await spoolFileOf(h, tenantId, r.id)).toBe(true);
      }
      await expectNothingStoredYet(tenantId, recs);

      await recoverAndCheck(key, tenantId, recs);
    },
    SLOW,
  );

  it(
    'crashes twice in a row (mid-upload, then after the store) and still converges',
    async () => {
      const tenantId = 'crash-twice';
      const { key } = await setupTenant(h, tenantId);
      const recs = await postSeveral(key, 2, 3 * MiB);
      await crashAt(CRASH.midUpload);
      await crashAt(CRASH.afterStore);
      await recoverAndCheck(key, tenantId, recs);
    },
    SLOW,
  );

  it(
    'SIGTERM mid-transfer of a large recording: exits 0, and the recording ends stored once',
    async () => {
      const tenantId = 'graceful-stop';
      const { key } = await setupTenant(h, tenantId);
      const big = randomBytes(48 * MiB + 4321);
      const posted = await postRecording(h, key, big, { callId: 'big' });
      expect(posted.status).toBe(202);
      const small = await postSeveral(key, 2, 1 * MiB);
      const recs = [{ id: posted.body.id as string, audio: big }, ...small];

      const w = spawn();
      // Mid-transfer: the row is claimed and bytes are landing in the target.
      await waitUntil(
        'the large upload to be under way',
        async () =>
          (await row(h, posted.body.id)).status === 'transferring' &&
          (await targetFiles(h, tenantId)).partial.some((f) => f.includes(`${posted.body.id}.esdk.partial`)),
        DEADLINE_MS,
        10,
      );
      const exit = await w.stop('SIGTERM');
      expect(exit, w.output()).toEqual({ code: 0, signal: null });
      // Graceful: the running transfer was finished, not abandoned.
      expect((await row(h, posted.body.id)).status).toBe('stored');
      // Nothing was lost on the way down.
      for (const r of recs) {
        const rr = await row(h, r.id);
        expect(['queued', 'transferring', 'stored']).toContain(rr.status);
        if (rr.status !== 'stored') expect(await spoolFileOf(h, tenantId, r.id)).toBe(true);
      }

      await recoverAndCheck(key, tenantId, recs);
    },
    SLOW,
  );
});
