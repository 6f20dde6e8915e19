import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postRecording, setupTenant, waitForStatus } from '../support/client.js';
import { ADMIN_TOKEN, type Harness, startHarness } from '../support/harness.js';

const run = promisify(execFile);

async function verify(h: Harness, tenant: string) {
  const env = { PATH: process.env.PATH!, CUSTODY_URL: h.url, CUSTODY_TOKEN: ADMIN_TOKEN };
  try {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', path.resolve('src/cli/main.ts'), 'audit', 'verify', '--tenant', tenant],
      { env },
    );
    return { code: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('custody audit verify', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    const { key } = await setupTenant(h, 'audited');
    const id = (await postRecording(h, key, Buffer.alloc(1000, 1))).body.id;
    await waitForStatus(h, key, id, ['stored']);
  });
  afterAll(() => h?.close());

  it('re-checks the chain from the API alone, and reports where it breaks', async () => {
    const ok = await verify(h, 'audited');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^ok: \d+ entries, head [0-9a-f]{64}/);

    // Rewrite history behind the service's back (as a rogue DBA would): the chain no longer holds.
    await h.ctx.db.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update');
    await h.ctx.db.query(
      `UPDATE audit_events SET actor = 'someone-else' WHERE tenant_id = 'audited' AND seq = 2`,
    );
    await h.ctx.db.query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update');
    const broken = await verify(h, 'audited');
    expect(broken.code).toBe(3);
    expect(broken.stderr).toMatch(/chain broken at seq 2/);
  });
});
