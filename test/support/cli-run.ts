import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';

const run = promisify(execFile);
/** The CLI from source, as `npx custody` runs it in a checkout (no build needed). */
const CLI = ['--import', 'tsx', path.resolve('src/cli/main.ts')];

export interface CliResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs `custody <args>` with exactly `env` (nothing inherited), capturing bytes and exit code. */
export async function runCustody(args: string[], env: Record<string, string>): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...CLI, ...args], {
      env,
      encoding: 'buffer',
      maxBuffer: 64 << 20,
    });
    return { code: 0, stdout, stderr: stderr.toString() };
  } catch (err) {
    const e = err as { code: number; stdout: Buffer; stderr: Buffer };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr.toString() };
  }
}

/** stderr is one line naming the reason, with no stack trace, and the exit code is not 0. */
export function expectOneLineError(r: CliResult, reason: string | RegExp): void {
  expect(r.code).not.toBe(0);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(reason);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}
