import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../support/harness.js';
import { spawnWorker } from '../support/worker-process.js';

describe('a worker-only process', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ workers: false });
  });
  afterAll(() => h?.close());

  it('serves /metrics and /healthz on its own port and stops cleanly on SIGTERM', async () => {
    const worker = spawnWorker(h.env);
    try {
      await worker.started(60_000);
      const line = worker
        .output()
        .split('\n')
        .find((l) => l.includes('"msg":"custody started"'))!;
      const port = JSON.parse(line).port as number;
      expect(port).toBeGreaterThan(0);
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/custody_recordings_stored_total/);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      expect((await worker.stop('SIGTERM', 60_000)).code).toBe(0);
    }
  });
});
