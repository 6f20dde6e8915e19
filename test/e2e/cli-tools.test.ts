import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postRecording, setupTenant, waitForStatus } from '../support/client.js';
import { type Harness, startHarness } from '../support/harness.js';

const run = promisify(execFile);
const CLI = ['--import', 'tsx', path.resolve('src/cli/main.ts')];
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Runs `custody …` with no database, Redis or token in its environment. */
async function custody(args: string[]) {
  const env = { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp' };
  try {
    const { stdout } = await run(process.execPath, [...CLI, ...args], {
      env,
      encoding: 'buffer',
      maxBuffer: 64 << 20,
    });
    return { code: 0, stdout: stdout as Buffer };
  } catch (err) {
    const e = err as { code: number; stdout: Buffer };
    return { code: e.code, stdout: e.stdout };
  }
}

describe('tenant-side tools on an object taken from the local target', () => {
  let h: Harness;
  let object: string;
  let keyFile: string;
  const audio = randomBytes(700_000);

  beforeAll(async () => {
    h = await startHarness();
    const { key } = await setupTenant(h, 'cli-tenant');
    const id = (await postRecording(h, key, audio)).body.id;
    await waitForStatus(h, key, id, ['stored']);
    const dir = path.join(h.dataDir, 'storage', 'cli-tenant', 'default');
    // The audio object, not the metadata sidecar beside it.
    const entry = (await readdir(dir, { recursive: true, withFileTypes: true })).find(
      (e) => e.name === `${id}.esdk`,
    )!;
    object = path.join(h.dataDir, 'object.esdk');
    await copyFile(path.join(entry.parentPath, entry.name), object);
    keyFile = path.join(h.dataDir, 'local-master.key');
  });
  afterAll(() => h?.close());

  const keyArgs = () => ['--local-key-file', keyFile, '--tenant', 'cli-tenant'];

  it('decrypts a whole object and a range', async () => {
    const out = path.join(h.dataDir, 'plain.wav');
    expect((await custody(['decrypt', object, '-o', out, ...keyArgs()])).code).toBe(0);
    expect(sha(await readFile(out))).toBe(sha(audio));
    const part = await custody(['decrypt', object, '--range', '300000-300099', ...keyArgs()]);
    expect(part.code).toBe(0);
    expect(part.stdout.equals(audio.subarray(300000, 300100))).toBe(true);
  });

  it('inspects the header and authenticates every frame', async () => {
    const plain = await custody(['inspect', object]);
    expect(plain.code).toBe(0);
    const header = JSON.parse(plain.stdout.toString());
    expect(header).toMatchObject({ suiteId: 0x0478, frameLength: 256 * 1024, authenticated: false });
    expect(header.context).toMatchObject({ 'custody:tenant': 'cli-tenant' });
    const checked = JSON.parse((await custody(['inspect', object, ...keyArgs()])).stdout.toString());
    expect(checked).toMatchObject({ authenticated: true, plaintextLength: audio.length });
  });

  it('exits non-zero on a tampered object, a wrong tenant or a wrong key', async () => {
    const bytes = await readFile(object);
    bytes[bytes.length - 100]! ^= 1;
    const bad = path.join(h.dataDir, 'bad.esdk');
    await writeFile(bad, bytes);
    const wrongKey = path.join(h.dataDir, 'wrong.key');
    await writeFile(wrongKey, randomBytes(32));
    // Independent processes: run them side by side.
    const codes = await Promise.all([
      custody(['decrypt', bad, '-o', path.join(h.dataDir, 'x'), ...keyArgs()]),
      custody(['inspect', bad, ...keyArgs()]),
      custody(['decrypt', object, '--local-key-file', keyFile, '--tenant', 'other-tenant']),
      custody(['decrypt', object, '--local-key-file', wrongKey, '--tenant', 'cli-tenant']),
    ]);
    for (const { code } of codes) expect(code).not.toBe(0);
  });
});
