import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, postRecording, setupTenant } from '../support/client.js';
import { ADMIN_TOKEN, type Harness, startHarness } from '../support/harness.js';
import { playBack, row, waitForAll } from '../support/observe.js';

const run = promisify(execFile);

/** `custody keys <args…>` in a child process, as an operator would run it. */
async function custodyKeys(h: Harness, args: string[]) {
  const env = { PATH: process.env.PATH!, CUSTODY_URL: h.url, CUSTODY_TOKEN: ADMIN_TOKEN };
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', path.resolve('src/cli/main.ts'), 'keys', ...args],
      { env },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('custody keys', () => {
  let h: Harness;
  let key: string;
  const recs: { id: string; audio: Buffer }[] = [];
  beforeAll(async () => {
    h = await startHarness();
    ({ key } = await setupTenant(h, 'keys-cli'));
    for (const size of [50_000, 700]) {
      const audio = randomBytes(size);
      recs.push({ id: (await postRecording(h, key, audio)).body.id, audio });
    }
    await waitForAll(
      h,
      key,
      recs.map((r) => r.id),
      ['stored'],
    );
    const v2 = await api(h, 'PUT', '/v1/tenants/keys-cli/storage', {
      json: { provider: 'local', path: 'v2' },
    });
    expect(v2.status).toBe(200);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('migrate --wait follows the job to its end and exits 0; status shows it', async () => {
    const out = await custodyKeys(h, ['migrate', '--tenant', 'keys-cli', '--rate', '100', '--wait']);
    expect(out.code, out.stderr).toBe(0);
    const m = /^(kj_[0-9a-f]{16}) done\n$/.exec(out.stdout);
    expect(m, out.stdout).not.toBeNull();
    // Not a terminal: only the final progress line, no redraws.
    expect(out.stderr).toMatch(/^migrate \[#{30}\] 100% 2\/2 {2}failed 0 {2}[\d.]+\/s\n$/);
    for (const r of recs) {
      expect((await row(h, r.id)).storage_version).toBe(2);
      expect((await playBack(h, key, r.id)).equals(r.audio)).toBe(true);
    }
    const status = await custodyKeys(h, ['status', m![1]!, '--tenant', 'keys-cli']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      id: m![1],
      status: 'done',
      total: 2,
      done: 2,
      remaining: 0,
    });
  });

  it('without --wait prints the job; nothing to do is done at once', async () => {
    const out = await custodyKeys(h, ['rewrap', '--tenant', 'keys-cli']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^kj_[0-9a-f]{16} done \(0 recordings\)\n$/);
  });

  it('bad options and API refusals exit non-zero with the reason', async () => {
    const rate = await custodyKeys(h, ['rewrap', '--tenant', 'keys-cli', '--rate', '0']);
    expect(rate.code).not.toBe(0);
    expect(rate.stderr).toContain('--rate must be a positive number');
    const version = await custodyKeys(h, ['rewrap', '--tenant', 'keys-cli', '--target-version', '9']);
    expect(version.code).toBe(1);
    expect(version.stderr).toContain('400 VALIDATION_FAILED');
  });
});
