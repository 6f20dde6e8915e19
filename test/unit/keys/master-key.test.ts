import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOrCreateMasterKey } from '../../../src/keys/local/master-key.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const childScript = fileURLToPath(new URL('./fixtures/load-master-key.ts', import.meta.url));

function recordingLog() {
  const warnings: { obj: object; msg: string }[] = [];
  return { warnings, warn: (obj: object, msg: string) => warnings.push({ obj, msg }) };
}

describe('loadOrCreateMasterKey', () => {
  let dir: string;
  let file: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'custody-master-key-'));
    file = path.join(dir, 'nested', 'data', 'local-master.key');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a 0600 file of 32 random bytes, its directory, and warns loudly', async () => {
    const log = recordingLog();
    const key = await loadOrCreateMasterKey(file, log);
    expect(key).toHaveLength(32);
    expect((await readFile(file)).equals(key)).toBe(true);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]?.msg).toMatch(/back it up/i);
    expect(log.warnings[0]?.msg).toMatch(/losing/i);
    // No temp files are left next to the key.
    expect(await readdir(path.dirname(file))).toEqual(['local-master.key']);
  });

  it('returns the same key on later calls without warning again', async () => {
    const first = await loadOrCreateMasterKey(file, recordingLog());
    const log = recordingLog();
    const second = await loadOrCreateMasterKey(file, log);
    expect(second.equals(first)).toBe(true);
    expect(log.warnings).toEqual([]);
  });

  it('gives 20 concurrent callers one and the same key, generated once', async () => {
    const log = recordingLog();
    const keys = await Promise.all(Array.from({ length: 20 }, () => loadOrCreateMasterKey(file, log)));
    const hex = new Set(keys.map((k) => k.toString('hex')));
    expect(hex.size).toBe(1);
    expect(log.warnings).toHaveLength(1);
    expect(await readdir(path.dirname(file))).toEqual(['local-master.key']);
  });

  it('gives 4 processes started together one and the same key', async () => {
    const startAt = Date.now() + 2500;
    // allSettled: if one child fails, still wait for the others before the directory is removed.
    const settled = await Promise.allSettled(
      Array.from({ length: 4 }, () =>
        run(process.execPath, ['--import', 'tsx', childScript, file, String(startAt)], { cwd: repoRoot }),
      ),
    );
    const results = settled.map((s) => {
      if (s.status === 'rejected') throw s.reason;
      return s.value;
    });
    const keys = new Set(results.map((r) => r.stdout));
    expect(keys.size).toBe(1);
    const [only] = keys;
    expect(only).toMatch(/^[0-9a-f]{64}$/);
    expect((await readFile(file)).toString('hex')).toBe(only);
    expect(results.filter((r) => r.stderr.includes('generated'))).toHaveLength(1);
  }, 30_000);

  it.each([
    ['empty', 0],
    ['short', 31],
    ['long', 33],
    ['base64 text instead of raw bytes', 44],
  ])('rejects a %s file with an error naming the path', async (_label, size) => {
    await loadOrCreateMasterKey(file, recordingLog()); // creates the directory
    await writeFile(file, Buffer.alloc(size, 0x41));
    await expect(loadOrCreateMasterKey(file, recordingLog())).rejects.toThrow(
      new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*exactly 32`),
    );
  });

  it('warns (but loads) when the file is readable by group or others', async () => {
    const key = await loadOrCreateMasterKey(file, recordingLog());
    await chmod(file, 0o644);
    const log = recordingLog();
    expect((await loadOrCreateMasterKey(file, log)).equals(key)).toBe(true);
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]?.msg).toMatch(/chmod 600/);
  });

  it('refuses a directory where the key file should be', async () => {
    await loadOrCreateMasterKey(path.join(file, 'inner.key'), recordingLog());
    await expect(loadOrCreateMasterKey(file, recordingLog())).rejects.toThrow(/not a regular file/);
  });
});
