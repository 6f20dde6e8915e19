import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { api, postRecording } from './client.js';
import type { Harness } from './harness.js';
import { startKeyJob, waitForKeyJob } from './key-jobs.js';
import { playBack, waitForAll } from './observe.js';

/** A recording a test posted, and the audio it sent. */
export interface Rec {
  id: string;
  audio: Buffer;
}

/** The tenant the helpers act for: its id (operator routes) and API key (recordings). */
export interface TenantRef {
  tenantId: string;
  key: string;
}

/**
 * The steps the storage tests repeat for one tenant: post a recording, register a storage
 * version, run a key job, check that recordings play. `of` is read at each call, since the harness and
 * tenant are made in `beforeAll`; `callId` is the call id the recordings are posted with.
 */
export function tenantRecordings(of: () => { h: Harness; tenant: TenantRef }, callId: string) {
  /** Plays `r` back with no cached data key, so its open unwraps through the tenant's key service. */
  async function expectPlays(r: Rec): Promise<void> {
    const { h, tenant } = of();
    h.ctx.dataKeys.clear();
    expect((await playBack(h, tenant.key, r.id)).equals(r.audio), `playback of ${r.id}`).toBe(true);
  }

  return {
    /** Posts `size` random bytes and, unless `wait` is false, waits until the recording is stored. */
    async post(size: number, o: { wait?: boolean } = {}): Promise<Rec> {
      const { h, tenant } = of();
      const audio = randomBytes(size);
      const res = await postRecording(h, tenant.key, audio, { callId });
      expect(res.status, res.bytes.toString()).toBe(202);
      if (o.wait !== false) await waitForAll(h, tenant.key, [res.body.id], ['stored']);
      return { id: res.body.id, audio };
    },

    /** Registers `body` as the tenant's storage (it must be accepted); returns the new version. */
    async register(body: Record<string, unknown>): Promise<number> {
      const { h, tenant } = of();
      const res = await api(h, 'PUT', `/v1/tenants/${tenant.tenantId}/storage`, { json: body });
      expect(res.status, res.bytes.toString()).toBe(200);
      return res.body.version;
    },

    /**
     * Runs a key job (`spec`: its kind and options) to its end: it must take `count`
     * recordings and finish with all of them done, none failed.
     */
    async runKeyJob(spec: Record<string, unknown>, count: number): Promise<void> {
      const { h, tenant } = of();
      const started = await startKeyJob(h, tenant.tenantId, spec);
      expect(started.total, `recordings the ${spec.kind} job takes`).toBe(count);
      expect(await waitForKeyJob(h, tenant.tenantId, started.id)).toMatchObject({
        status: 'done',
        done: count,
        failed: 0,
      });
    },

    expectPlays,

    /** `expectPlays` for each of `recs`, in order. */
    async expectAllPlay(recs: Rec[]): Promise<void> {
      for (const r of recs) await expectPlays(r);
    },
  };
}
