import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { postRecording } from './client.js';
import type { Harness } from './harness.js';
import { playBack, row, spoolFileOf, waitForAll } from './observe.js';

export type Rec = { id: string; audio: Buffer };

/** Posts `count` random recordings of `size` bytes with the tenant key; expects 202 each. */
export async function postMany(h: Harness, key: string, count: number, size: number): Promise<Rec[]> {
  const recs: Rec[] = [];
  for (let i = 0; i < count; i++) {
    const audio = randomBytes(size);
    const res = await postRecording(h, key, audio, { callId: `call-${i}` });
    expect(res.status).toBe(202);
    recs.push({ id: res.body.id, audio });
  }
  return recs;
}

/**
 * The tenant's key fails mid-run: recordings posted while it is broken end `blocked`
 * with `code`, their spooled copies kept; once it is fixed they drain to `stored` on
 * their own, spool emptied, and play back. `whileBroken` checks the store in between.
 */
export async function expectBlockedThenDrained(
  h: Harness,
  tenant: { tenantId: string; key: string },
  o: {
    code: string;
    breakKey(): void;
    fixKey(): void;
    size?: number;
    whileBroken?(storedBefore: Rec[], blocked: Rec[]): Promise<void>;
  },
): Promise<void> {
  const size = o.size ?? 40_000;
  const ids = (recs: Rec[]) => recs.map((r) => r.id);
  const before = await postMany(h, tenant.key, 2, size);
  await waitForAll(h, tenant.key, ids(before), ['stored']);

  o.breakKey();
  const during = await postMany(h, tenant.key, 3, size);
  const blocked = await waitForAll(h, tenant.key, ids(during), ['blocked']);
  for (const v of blocked) expect(v.error).toMatchObject({ code: o.code });
  for (const r of during) {
    expect(await spoolFileOf(h, tenant.tenantId, r.id)).toBe(true);
    expect((await row(h, r.id)).status).toBe('blocked');
  }
  await o.whileBroken?.(before, during);

  o.fixKey();
  await waitForAll(h, tenant.key, ids(during), ['stored']);
  for (const r of during) {
    expect(await spoolFileOf(h, tenant.tenantId, r.id)).toBe(false);
    expect((await playBack(h, tenant.key, r.id)).equals(r.audio)).toBe(true);
  }
}
