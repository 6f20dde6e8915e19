import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../integration/contract-helpers.js';
import { type AwsWorld, type S3Tenant, setupS3Tenant, startAwsHarness } from '../support/aws-world.js';
import { api, postRecording } from '../support/client.js';
import type { Harness } from '../support/harness.js';
import { playBack, waitForAll, waitUntil } from '../support/observe.js';

/**
 * Crypto-shredding: the tenant revokes Custody's use of its key. Within the data-key
 * cache TTL every recording stops playing, with a clear problem, while nothing else
 * breaks (another tenant, ingest, the API). Restoring access restores playback.
 */
describe('crypto-shred: revoking the key makes every recording unreadable within the cache TTL', () => {
  let world: AwsWorld;
  let h: Harness;
  let close: () => Promise<void>;
  let shredded: S3Tenant;
  let other: S3Tenant;
  const ids: string[] = [];
  const TTL_SECONDS = 1;

  beforeAll(async () => {
    ({ world, h, close } = await startAwsHarness({
      env: { CUSTODY_DATA_KEY_CACHE_SECONDS: String(TTL_SECONDS) },
    }));
    shredded = await setupS3Tenant(h, world, 'shred-me');
    other = await setupS3Tenant(h, world, 'shred-other');
    for (let i = 0; i < 3; i++) ids.push((await postRecording(h, shredded.key, randomBytes(20_000))).body.id);
    await waitForAll(h, shredded.key, ids, ['stored']);
  });
  afterAll(async () => {
    await close?.();
  });

  const play = async (t: S3Tenant, id: string) => {
    const link = await api(h, 'POST', `/v1/recordings/${id}/playback-link`, { token: t.key, json: {} });
    return api(h, 'GET', link.body.url, { token: null });
  };

  it('plays, then refuses every recording once the key is revoked, then plays again when restored', async () => {
    for (const id of ids) expect((await play(shredded, id)).status).toBe(200);

    world.aws.deny(shredded.keyArn);
    const revokedAt = Date.now();
    // Cached data keys may serve until the TTL runs out; then every playback must fail.
    await waitUntil('every playback to be refused', async () => {
      const statuses = await Promise.all(ids.map(async (id) => (await play(shredded, id)).status));
      return statuses.every((s) => s !== 200);
    });
    expect(Date.now() - revokedAt).toBeLessThan((TTL_SECONDS + 5) * 1000);
    for (const id of ids) {
      const res = await play(shredded, id);
      expectProblem(res, 503, 'KEY_UNAVAILABLE');
      expect(res.body.detail).toContain('AccessDeniedException');
    }

    // Nothing else breaks: another tenant records and plays, the service is ready.
    const audio = randomBytes(15_000);
    const otherId = (await postRecording(h, other.key, audio)).body.id;
    await waitForAll(h, other.key, [otherId], ['stored']);
    expect((await playBack(h, other.key, otherId)).equals(audio)).toBe(true);
    expect((await api(h, 'GET', '/readyz', { token: null })).status).toBe(200);

    world.aws.allow(shredded.keyArn);
    for (const id of ids) expect((await play(shredded, id)).status).toBe(200);
  });
});
