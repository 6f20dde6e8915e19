import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiResponse, api, postRecording, setupTenant } from '../support/client.js';
import { type Harness, startHarness } from '../support/harness.js';
import { expectProblem, writtenState } from './contract-helpers.js';

/** `Idempotency-Key` on ingest: a repeat stores nothing new; reuse with other bytes is refused. */
let h: Harness;
let keyA: string;
let keyB: string;
const seen: number[] = [];

const snapshot = () => writtenState(h);

async function post(key: string, audio: Buffer, idem: string, callId = 'call-1'): Promise<ApiResponse> {
  const r = await postRecording(h, key, audio, { callId, headers: { 'idempotency-key': idem } });
  seen.push(r.status);
  return r;
}

beforeAll(async () => {
  // No workers: spooled copies stay, so a second spool file would be visible.
  h = await startHarness({ workers: false });
  ({ key: keyA } = await setupTenant(h, 'idem-a'));
  ({ key: keyB } = await setupTenant(h, 'idem-b'));
});
afterAll(() => h?.close());

describe('Idempotency-Key', () => {
  const audio = randomBytes(4096);
  let first: ApiResponse;

  beforeAll(async () => {
    first = await post(keyA, audio, 'order-42');
    expect(first.status, first.bytes.toString()).toBe(202);
  });

  it('same key, same bytes → 200 with the first recording, nothing new stored', async () => {
    const before = await snapshot();
    const again = await post(keyA, audio, 'order-42');
    expect(again.status, again.bytes.toString()).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    const current = await api(h, 'GET', `/v1/recordings/${first.body.id}`, { token: keyA });
    expect(again.body).toEqual(current.body);
    expect(await snapshot()).toEqual(before);
  });

  it('the repeat is answered even when other metadata differs (the key decides)', async () => {
    const before = await snapshot();
    const again = await post(keyA, audio, 'order-42', 'another-call');
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, callId: 'call-1' });
    expect(await snapshot()).toEqual(before);
  });

  it('same key, different bytes → 409 IDEMPOTENCY_CONFLICT, nothing new', async () => {
    const before = await snapshot();
    for (const other of [
      randomBytes(4096),
      audio.subarray(0, 4095),
      Buffer.concat([audio, Buffer.from([0])]),
    ])
      expectProblem(await post(keyA, other, 'order-42'), 409, 'IDEMPOTENCY_CONFLICT');
    expect(await snapshot()).toEqual(before);
  });

  it('keys are per tenant: the same key in another tenant is a new recording', async () => {
    const before = await snapshot();
    const inB = await post(keyB, audio, 'order-42');
    expect(inB.status, inB.bytes.toString()).toBe(202);
    expect(inB.body.id).not.toBe(first.body.id);
    expect(inB.body.tenantId).toBe('idem-b');
    const after = await snapshot();
    expect(after.recordings).toBe(before.recordings + 1);
    expect(after.idempotency).toBe(before.idempotency + 1);
    expect(after.spool).toHaveLength(before.spool.length + 1);
  });

  it('a different key with the same bytes is a new recording', async () => {
    const other = await post(keyA, audio, 'order-43');
    expect(other.status).toBe(202);
    expect(other.body.id).not.toBe(first.body.id);
  });

  it('concurrent repeats of a new key store exactly one recording', async () => {
    const before = await snapshot();
    const bytes = randomBytes(2048);
    const all = await Promise.all(Array.from({ length: 8 }, () => post(keyA, bytes, 'order-race')));
    const statuses = all.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 202]);
    expect(new Set(all.map((r) => r.body.id)).size).toBe(1);
    const after = await snapshot();
    expect(after.recordings).toBe(before.recordings + 1);
    expect(after.idempotency).toBe(before.idempotency + 1);
    expect(after.spool).toHaveLength(before.spool.length + 1);
  });

  it('a rejected upload does not claim the key', async () => {
    const before = await snapshot();
    const empty = await post(keyA, Buffer.alloc(0), 'order-empty');
    expectProblem(empty, 400, 'EMPTY_BODY');
    expect(await snapshot()).toEqual(before);
    const real = await post(keyA, randomBytes(64), 'order-empty');
    expect(real.status).toBe(202);
  });

  it('no 5xx appeared', () => {
    expect(seen.length).toBeGreaterThan(10);
    expect(seen.filter((s) => s >= 500)).toEqual([]);
  });
});
