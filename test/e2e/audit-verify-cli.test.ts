import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postRecording, setupTenant, waitForStatus } from '../support/client.js';
import { ADMIN_TOKEN, type Harness, startHarness } from '../support/harness.js';
import { fetchAudit } from '../integration/contract-helpers.js';

const run = promisify(execFile);

/** `custody audit <args…>` in a child process, as an operator would run it. */
async function custodyAudit(h: Harness, args: string[]) {
  const env = { PATH: process.env.PATH!, CUSTODY_URL: h.url, CUSTODY_TOKEN: ADMIN_TOKEN };
  try {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', path.resolve('src/cli/main.ts'), 'audit', ...args],
      { env },
    );
    return { code: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const verify = (h: Harness, tenant: string, ...more: string[]) =>
  custodyAudit(h, ['verify', '--tenant', tenant, ...more]);

describe('custody audit verify', () => {
  let h: Harness;
  let dir: string;
  beforeAll(async () => {
    h = await startHarness();
    const { key } = await setupTenant(h, 'audited');
    const id = (await postRecording(h, key, Buffer.alloc(1000, 1))).body.id;
    await waitForStatus(h, key, id, ['stored']);
    dir = await mkdtemp(path.join(os.tmpdir(), 'custody-audit-cli-'));
  });
  afterAll(async () => {
    await h?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('--server asks the service to walk the chain and prints the same report', async () => {
    const here = await verify(h, 'audited');
    const there = await verify(h, 'audited', '--server');
    expect(there.code).toBe(0);
    expect(there.stdout).toMatch(/^ok: \d+ entries, head [0-9a-f]{64}\n/);
    expect(there.stdout).toBe(here.stdout);
  });

  it('export writes JSON Lines that match the audit API, whole or for a time range', async () => {
    const { items } = await fetchAudit(h, 'audited');
    const out = path.join(dir, 'all.jsonl');
    const all = await custodyAudit(h, ['export', '--tenant', 'audited', '-o', out]);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toBe(`exported ${items.length} entries from seq 1, previous hash ${'0'.repeat(64)}\n`);
    const written = (await readFile(out, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(written).toEqual(items);

    const [from, to] = [items[2]!.at, items[items.length - 1]!.at];
    const part = path.join(dir, 'part.jsonl');
    const ranged = await custodyAudit(h, [
      'export',
      '--tenant',
      'audited',
      '--from',
      from,
      '--to',
      to,
      '-o',
      part,
    ]);
    expect(ranged.code, ranged.stderr).toBe(0);
    const expected = items.filter((e) => e.at >= from && e.at < to);
    expect(ranged.stdout).toContain(`previous hash ${items[expected[0]!.seq - 2]!.hash}`);
    expect(
      (await readFile(part, 'utf8'))
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual(expected);

    const bad = await custodyAudit(h, ['export', '--tenant', 'audited', '--from', 'yesterday', '-o', part]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^custody: 400 VALIDATION_FAILED: /);
  });

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
    const server = await verify(h, 'audited', '--server');
    expect(server.code).toBe(3);
    expect(server.stderr).toBe('chain broken at seq 2 (hash-mismatch)\n');
    // The export still writes the file, and says the range does not verify.
    const exported = await custodyAudit(h, [
      'export',
      '--tenant',
      'audited',
      '-o',
      path.join(dir, 'x.jsonl'),
    ]);
    expect(exported.code).toBe(3);
    expect(exported.stderr).toMatch(/chain broken at seq 2/);
  });
});
