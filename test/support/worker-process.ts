import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** Settles once the process has exited (never rejects). */
  exited: Promise<ChildExit>;
  /** stdout + stderr so far, for failure messages. */
  output(): string;
  /** Resolves once the process logged `custody started` (signal handlers in, workers running). */
  started(timeoutMs?: number): Promise<void>;
  /** Sends `signal`; resolves with how the process ended, or throws after `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ChildExit>;
}

/**
 * `custody worker` as a separate OS process (`node --import tsx src/cli/main.ts worker`)
 * with a harness's env, so it joins that instance's schema, queue prefix and data dir and
 * can be killed like a real node. `extra` adds variables (e.g. `CUSTODY_TEST_CRASH_AT`).
 */
export function spawnWorker(env: Record<string, string>, extra: Record<string, string> = {}): WorkerProcess {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, ...extra };
  // The harness's instance owns no crash point unless asked for explicitly.
  if (!('CUSTODY_TEST_CRASH_AT' in extra)) delete childEnv.CUSTODY_TEST_CRASH_AT;
  childEnv.NODE_ENV = 'test';
  // `info` so that `custody started` shows up (the readiness signal); failures show in output().
  childEnv.LOG_LEVEL = extra.LOG_LEVEL ?? 'info';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'worker'], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let isStarted = false;
  let onStarted = () => {};
  const startedSignal = new Promise<void>((resolve) => {
    onStarted = resolve;
  });
  const keep = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    if (!isStarted && out.includes('"msg":"custody started"')) {
      isStarted = true;
      onStarted();
    }
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (err) => {
      out += `\nspawn error: ${err.message}`;
      resolve({ code: -1, signal: null });
    });
  });
  if (child.pid === undefined) throw new Error('could not spawn the worker process');
  const pid = child.pid;
  return {
    child,
    pid,
    exited,
    output: () => out,
    async started(timeoutMs = 60_000) {
      const exitedEarly = exited.then((e) => {
        if (!isStarted)
          throw new Error(`worker ${pid} exited (${JSON.stringify(e)}) before starting:\n${out}`);
      });
      await withDeadline(
        Promise.race([startedSignal, exitedEarly]),
        timeoutMs,
        () => `worker ${pid} did not start:\n${out}`,
      );
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 60_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return withDeadline(exited, timeoutMs, () => `worker ${pid} did not exit after ${signal}:\n${out}`);
    },
  };
}

/** Kills a worker that may still be running (cleanup in `afterAll`/`finally`). */
export async function killWorker(w: WorkerProcess | undefined): Promise<void> {
  if (!w) return;
  if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  await w.exited;
}

export async function withDeadline<T>(p: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
