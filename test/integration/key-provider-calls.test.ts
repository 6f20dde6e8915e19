import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, postRecording, setupTenant, waitForStatus } from '../support/client.js';
import type { CountingKeyring } from '../support/counting-keyring.js';
import { countingLocalKeys } from '../support/counting-providers.js';
import { type Harness, startHarness } from '../support/harness.js';

describe('calls to the tenant’s key, counted at the key provider', () => {
  let h: Harness;
  let key: string;
  let counter: CountingKeyring;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'custody-test-'));
    const { registry, counters } = countingLocalKeys(dataDir);
    h = await startHarness({ env: { CUSTODY_DATA_DIR: dataDir }, overrides: { keyProviders: registry } });
    ({ key } = await setupTenant(h, 'counted'));
    counter = counters.get('counted')!;
    // The registration handshake wrapped and unwrapped one probe.
    expect(counter.encryptCalls).toBe(1);
    expect(counter.decryptCalls).toBe(1);
    counter.reset();
  });
  afterAll(async () => {
    await h?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('wraps exactly one data key per recording written', async () => {
    const ids = await Promise.all(
      Array.from(
        { length: 12 },
        async (_, i) => (await postRecording(h, key, randomBytes(50_000 + i), { callId: `c${i}` })).body.id,
      ),
    );
    for (const id of ids) await waitForStatus(h, key, id, ['stored']);
    expect(counter.encryptCalls).toBe(ids.length);
    expect(counter.decryptCalls).toBe(0);
  });

  it('unwraps once for a seeking player, then serves from the brief data-key cache', async () => {
    const audio = randomBytes(600_000);
    const id = (await postRecording(h, key, audio)).body.id;
    await waitForStatus(h, key, id, ['stored']);
    const { url } = (await api(h, 'POST', `/v1/recordings/${id}/playback-link`, { token: key, json: {} }))
      .body;
    counter.reset();
    for (const range of ['bytes=0-1000', 'bytes=300000-', 'bytes=-10', 'bytes=1-2']) {
      expect((await api(h, 'GET', url, { token: null, headers: { range } })).status).toBe(206);
    }
    expect((await api(h, 'GET', url, { token: null })).bytes.equals(audio)).toBe(true);
    expect(counter.decryptCalls).toBe(1);
    expect(counter.encryptCalls).toBe(0);
  });

  it('reports the calls in the service metrics too', async () => {
    const text = (await api(h, 'GET', '/metrics', { token: null })).bytes.toString();
    expect(text).toMatch(
      /custody_key_provider_calls_total\{provider="local",operation="wrap",outcome="ok"\} \d+/,
    );
    expect(text).toMatch(/custody_recordings_stored_total \d+/);
  });
});
