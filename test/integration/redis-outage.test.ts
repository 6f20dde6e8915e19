import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, postRecording, setupTenant } from '../support/client.js';
import { GatedLocalStorage } from '../support/gated-storage.js';
import { type Harness, startHarness } from '../support/harness.js';
import {
  expectStoredExactlyOnce,
  playBack,
  row,
  sha256,
  spoolFileOf,
  targetFiles,
  waitForAll,
  waitUntil,
} from '../support/observe.js';
import { type PrivateRedis, startPrivateRedis } from '../support/private-redis.js';
import { withDeadline } from '../support/worker-process.js';

const MiB = 1024 * 1024;
const SLOW = 180_000;

type Rec = { id: string; audio: Buffer };

/** POSTs must answer promptly whatever Redis is doing: a hang is a failure, not a wait. */
async function post(h: Harness, key: string, size: number, callId: string): Promise<Rec> {
  const audio = randomBytes(size);
  const res = await withDeadline(
    postRecording(h, key, audio, { callId }),
    15_000,
    () => `POST /v1/recordings hung (${callId})`,
  );
  expect(res.status, String(res.bytes)).toBe(202);
  expect(res.body).toMatchObject({ status: 'queued', size, sha256: sha256(audio) });
  return { id: res.body.id, audio };
}

const jobOf = (h: Harness, id: string) => h.ctx.producer.transfer.getJob(id);

/**
 * Redis is only the work queue; PostgreSQL is the record. Each block points a harness at
 * a private redis-server (never the machine's shared one), which it then wipes or kills.
 */
describe('a wiped Redis loses no recording', () => {
  let redis: PrivateRedis;
  let h: Harness;
  let key: string;
  const tenantId = 'redis-wiped';
  const stored: Rec[] = [];

  beforeAll(async () => {
    redis = await startPrivateRedis();
    // Two transfers at a time, so that a wipe finds jobs still waiting in Redis.
    h = await startHarness({
      workers: false,
      env: { REDIS_URL: redis.url, CUSTODY_TRANSFER_CONCURRENCY: '2' },
    });
    ({ key } = await setupTenant(h, tenantId));
  });
  afterAll(async () => {
    await h?.close();
    await redis?.dispose();
  });

  it(
    'FLUSHALL before the workers start: the reconciler re-enqueues every queued recording',
    async () => {
      const recs: Rec[] = [];
      for (let i = 0; i < 4; i++) recs.push(await post(h, key, 512 * 1024 + i * 1000, `wipe-${i}`));
      for (const r of recs) expect(await jobOf(h, r.id)).toBeDefined();

      await redis.flushAll();
      for (const r of recs) {
        expect(await jobOf(h, r.id)).toBeUndefined();
        expect((await row(h, r.id)).status).toBe('queued');
      }

      await h.startWorkers();
      await expectStoredExactlyOnce(h, key, tenantId, recs);
      stored.push(...recs);
    },
    SLOW,
  );

  it(
    'FLUSHALL mid-run (jobs running and waiting): every recording still ends stored, once',
    async () => {
      await h.stopWorkers();
      const recs: Rec[] = [];
      for (let i = 0; i < 6; i++) recs.push(await post(h, key, 3 * MiB + i * 77_777, `mid-${i}`));
      await h.startWorkers();
      const statuses = async () => (await Promise.all(recs.map((r) => row(h, r.id)))).map((r) => r.status);
      // Wipe while two are being transferred and the others wait in Redis.
      await waitUntil(
        'a transfer to be under way',
        async () => (await statuses()).includes('transferring'),
        60_000,
        10,
      );
      await redis.flushAll();
      expect(await statuses()).toContain('queued');
      // Wipe again once something got stored (the reconciler's jobs go too).
      await waitUntil('progress after the wipe', async () => (await statuses()).includes('stored'));
      await redis.flushAll();

      // Both batches: nothing lost, nothing duplicated, the bytes intact.
      stored.push(...recs);
      await expectStoredExactlyOnce(h, key, tenantId, stored);
      const items = (await api(h, 'GET', '/v1/recordings?limit=100', { token: key })).body.items;
      expect(items).toHaveLength(stored.length);
    },
    SLOW,
  );
});

describe('Redis down: ingest and playback keep working, transfers resume afterwards', () => {
  let redis: PrivateRedis;
  let h: Harness;
  let key: string;
  const tenantId = 'redis-down';
  let before: Rec;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    h = await startHarness({ workers: true, env: { REDIS_URL: redis.url } });
    ({ key } = await setupTenant(h, tenantId));
    before = await post(h, key, 2 * MiB + 3, 'before-outage');
    await waitForAll(h, key, [before.id], ['stored']);
  });
  afterAll(async () => {
    // A test that failed mid-outage must not leave the workers waiting on a dead Redis.
    if (redis && !redis.isRunning()) await redis.restart();
    await h?.close();
    await redis?.dispose();
  });

  it(
    'survives the outage and catches up once Redis is back',
    async () => {
      const ready = await api(h, 'GET', '/readyz', { token: null });
      expect(ready.body).toMatchObject({ postgres: 'ok', redis: 'ok' });

      // Redis dies while a large transfer is running: the transfer needs only PostgreSQL,
      // the spool and the tenant's storage, so it goes on (its job bookkeeping is lost).
      const inflight = await post(h, key, 48 * MiB + 1, 'in-flight');
      await waitUntil(
        'the large upload to be under way',
        async () =>
          (await row(h, inflight.id)).status === 'transferring' &&
          (await targetFiles(h, tenantId)).partial.some((f) => f.includes(`${inflight.id}.esdk.partial`)),
        60_000,
        10,
      );
      await redis.stop();

      // Readiness reports Redis but does not depend on it.
      await waitUntil('readyz to report Redis unavailable', async () => {
        const r = await api(h, 'GET', '/readyz', { token: null });
        return r.body?.redis === 'unavailable' && r;
      }).then((r) => {
        expect(r.status).toBe(200);
        expect(r.body).toMatchObject({ status: 'ready', postgres: 'ok', redis: 'unavailable' });
      });

      // Ingest: durably spooled and recorded, answered promptly.
      const during: Rec[] = [];
      for (let i = 0; i < 3; i++) during.push(await post(h, key, 1 * MiB + i * 4099, `during-${i}`));

      // A DELETE is accepted too; its job waits for Redis like the transfers do.
      const doomed = await post(h, key, 200_000, 'deleted-during-outage');
      const del = await withDeadline(
        api(h, 'DELETE', `/v1/recordings/${doomed.id}`, { token: key }),
        15_000,
        () => 'DELETE hung',
      );
      expect(del.status).toBe(202);
      expect(del.body.status).toBe('deleting');

      // Playback of what was stored before the outage.
      const played = await withDeadline(playBack(h, key, before.id), 15_000, () => 'playback hung');
      expect(sha256(played)).toBe(sha256(before.audio));

      // Nothing can be transferred meanwhile: the recordings wait, queued, with their spool copies.
      // (Observed over a few reconciler intervals: a worker that somehow made progress would show.)
      const until = Date.now() + 3_000;
      while (Date.now() < until) {
        for (const r of during) expect((await row(h, r.id)).status).toBe('queued');
        expect((await row(h, doomed.id)).status).toBe('deleting');
        await delay(200);
      }
      for (const r of during) expect(await spoolFileOf(h, tenantId, r.id)).toBe(true);
      await waitForAll(h, key, [inflight.id], ['stored']);
      expect((await api(h, 'GET', '/readyz', { token: null })).status).toBe(200);

      // Back, empty (no persistence): the reconciler must enqueue what arrived meanwhile.
      await redis.restart();
      await waitUntil('readyz to report Redis ok', async () => {
        const r = await api(h, 'GET', '/readyz', { token: null });
        return r.body?.redis === 'ok';
      });
      await waitForAll(h, key, [doomed.id], ['deleted']);
      expect(await spoolFileOf(h, tenantId, doomed.id)).toBe(false);
      await expectStoredExactlyOnce(h, key, tenantId, [before, inflight, ...during]);

      // And the queue works normally again.
      const after = await post(h, key, 100_000, 'after-outage');
      await expectStoredExactlyOnce(h, key, tenantId, [before, inflight, ...during, after]);
    },
    SLOW,
  );
});

describe('a wipe mid-transfer re-runs a job that is still running', () => {
  let redis: PrivateRedis;
  let h: Harness;
  let key: string;
  const tenantId = 'redis-duplicate';
  const storage = new GatedLocalStorage(() => path.join(h.dataDir, 'storage'));

  beforeAll(async () => {
    redis = await startPrivateRedis();
    h = await startHarness({
      env: { REDIS_URL: redis.url },
      overrides: { storageTargets: storage.registry() },
    });
    ({ key } = await setupTenant(h, tenantId));
  });
  afterAll(async () => {
    storage.gate = undefined;
    await h?.close();
    await redis?.dispose();
  });

  it(
    'two attempts at one recording: the one that loses the race keeps the stored object',
    async () => {
      // Attempt 1 uploads and is held there; Redis is wiped, so the reconciler queues the
      // recording again and attempt 2 starts; attempt 1 then stores it, and attempt 2's
      // upload (same key) only lands afterwards, finding the recording already stored.
      const signal = () => {
        let fire = () => {};
        const fired = new Promise<void>((r) => (fire = r));
        return { fire, fired };
      };
      const first = signal();
      const release = signal();
      const second = signal();
      let id = '';
      storage.gate = async (objectKey, n) => {
        if (!objectKey.startsWith('year=')) return;
        if (n === 1) {
          first.fire();
          await release.fired;
        } else if (n === 2) {
          second.fire();
          await waitUntil('attempt 1 to mark it stored', async () => (await row(h, id)).status === 'stored');
        }
      };
      const rec = await post(h, key, 8 * MiB + 1, 'duplicate');
      id = rec.id;
      await withDeadline(first.fired, 60_000, () => 'attempt 1 never started its upload');
      expect((await row(h, id)).status).toBe('transferring');

      await redis.flushAll();
      await withDeadline(second.fired, 60_000, () => 'the reconciler never re-ran the transfer');
      release.fire();

      // Attempt 2's job finishes (completed jobs are removed).
      await waitUntil('attempt 2 to finish', async () => (await jobOf(h, id)) === undefined);
      const objectKey = [...storage.puts.keys()].find((k) => k.endsWith(`${id}.esdk`))!;
      expect(storage.puts.get(objectKey)).toBe(2);
      await expectStoredExactlyOnce(h, key, tenantId, [rec]);
    },
    SLOW,
  );
});
