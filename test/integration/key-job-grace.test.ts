import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepLeftovers } from '../../src/jobs/key-jobs/settle.js';
import { api, postRecording, setupTenant } from '../support/client.js';
import { type Harness, startHarness } from '../support/harness.js';
import { localObjects, objectsOf, sidecarsOf, startKeyJob, waitForKeyJob } from '../support/key-jobs.js';
import { playBack, row, waitForAll, waitUntil } from '../support/observe.js';

/**
 * The old object of a relocated recording outlives the switch by the delete grace, so a
 * playback that opened it just before can finish; then the reconciler's sweep removes it.
 * Time passing is simulated by ageing the item's `updated_at` in PostgreSQL (no sleep).
 */
describe('key jobs keep the old object for the delete grace', () => {
  let h: Harness;
  beforeAll(async () => {
    // The reconciler ticks every second (harness default): a sweep is never far away.
    h = await startHarness({ env: { CUSTODY_KEY_JOB_DELETE_GRACE_SECONDS: '3600' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  async function itemsOf(jobId: string) {
    return (
      await h.ctx.db.query<{ state: string; from_key: string }>(
        'SELECT state, from_key FROM key_job_items WHERE job_id = $1',
        [jobId],
      )
    ).rows;
  }

  it('after a rewrap the old object stays until the grace is over, then the sweep removes it', async () => {
    const { key } = await setupTenant(h, 'kg-rewrap');
    const audio = randomBytes(700_000);
    const posted = await postRecording(h, key, audio, { callId: 'grace' });
    expect(posted.status).toBe(202);
    const id: string = posted.body.id;
    await waitForAll(h, key, [id], ['stored']);
    const oldKey = (await row(h, id)).object_key;

    const v2 = await api(h, 'PUT', '/v1/tenants/kg-rewrap/storage', {
      json: { provider: 'local', path: 'v2' },
    });
    expect(v2.status, v2.bytes.toString()).toBe(200);
    const started = await startKeyJob(h, 'kg-rewrap', { kind: 'rewrap', ratePerSecond: 100 });
    expect(await waitForKeyJob(h, 'kg-rewrap', started.id)).toMatchObject({ status: 'done', done: 1 });

    // Switched: the row names the new object, and the old one (with its sidecar) is still there.
    expect((await row(h, id)).object_key).not.toBe(oldKey);
    const objects = await localObjects(h, 'kg-rewrap');
    expect(objectsOf(objects, id)).toHaveLength(2);
    expect(sidecarsOf(objects, id)).toHaveLength(2);
    expect(await itemsOf(started.id)).toEqual([{ state: 'switched', from_key: oldKey }]);
    expect((await playBack(h, key, id)).equals(audio)).toBe(true);

    // Within the grace a sweep leaves it alone.
    await sweepLeftovers(h.ctx);
    expect(objectsOf(await localObjects(h, 'kg-rewrap'), id)).toHaveLength(2);

    // An hour later, the worker's own reconciler tick removes it.
    await h.ctx.db.query(
      "UPDATE key_job_items SET updated_at = now() - interval '3601 seconds' WHERE job_id = $1",
      [started.id],
    );
    await waitUntil('the old object swept', async () => (await itemsOf(started.id))[0]!.state === 'done');
    const after = await localObjects(h, 'kg-rewrap');
    expect(objectsOf(after, id)).toHaveLength(1);
    expect(sidecarsOf(after, id)).toHaveLength(1);
    expect((await playBack(h, key, id)).equals(audio)).toBe(true);
  });

  it('tenant deletion does not wait for the grace: the old copies go with everything else', async () => {
    const tenantId = 'kg-delete';
    const { key } = await setupTenant(h, tenantId);
    const posted = await postRecording(h, key, randomBytes(50_000), { callId: 'grace-delete' });
    await waitForAll(h, key, [posted.body.id], ['stored']);
    expect(
      (await api(h, 'PUT', `/v1/tenants/${tenantId}/storage`, { json: { provider: 'local', path: 'v2' } }))
        .status,
    ).toBe(200);
    const started = await startKeyJob(h, tenantId, { kind: 'rewrap', ratePerSecond: 100 });
    await waitForKeyJob(h, tenantId, started.id);
    expect(objectsOf(await localObjects(h, tenantId), posted.body.id)).toHaveLength(2);

    const del = await api(h, 'DELETE', `/v1/tenants/${tenantId}`, { json: { confirm: tenantId } });
    expect(del.status, del.bytes.toString()).toBe(202);
    await waitUntil('the tenant deleted', async () => {
      const res = await api(h, 'GET', `/v1/tenants/${tenantId}/deletion-certificate`);
      return res.status === 200 && res.body.status === 'deleted';
    });
    const left = await localObjects(h, tenantId);
    expect(left.filter((f) => !f.includes('_custody'))).toEqual([]);
    expect(await itemsOf(started.id)).toEqual([expect.objectContaining({ state: 'done' })]);
  });
});
