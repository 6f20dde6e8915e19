import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { setupTenant } from '../test/support/client.js';
import type { Harness } from '../test/support/harness.js';
import {
  GiB,
  generatedBody,
  isMain,
  MiB,
  now,
  post,
  progress,
  quick,
  ROOT,
  recordingHeaders,
  startBenchHarness,
  startWorkerProcess,
  statusOf,
} from './common.js';
import { type BenchRow, printTable } from './table.js';

/** VmRSS and VmHWM (peak) of a process, in bytes. */
async function memoryOf(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 };
}

/** Resets the kernel's peak-RSS mark to the current RSS (proc(5), clear_refs "5"). */
async function resetPeak(pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

interface WorkerMemory {
  idle: number;
  startupPeak: number;
  peak: number;
  /** false: the kernel refused to reset VmHWM, so `peak` includes start-up. */
  peakReset: boolean;
  aboveIdle: number;
  transferMiBs: number;
}

/**
 * Starts one worker process, lets it settle, then posts `size` streamed bytes to the
 * in-process API and samples the worker's memory until the recording is stored.
 */
async function measureWorker(
  h: Harness,
  key: string,
  args: string[],
  size: number,
  label: string,
): Promise<WorkerMemory> {
  const worker = await startWorkerProcess(h, args);
  const { child, pid } = worker;
  try {
    await delay(3000); // let start-up garbage settle
    const idle = await memoryOf(pid);
    const peakReset = await resetPeak(pid);
    const before = await memoryOf(pid);
    progress(
      `rss(${label}): worker ${pid} idle RSS ${(idle.rss / MiB).toFixed(0)} MiB ` +
        `(start-up peak ${(idle.hwm / MiB).toFixed(0)} MiB); posting ${size / MiB} MiB`,
    );
    let maxRss = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        maxRss = Math.max(maxRss, (await memoryOf(pid)).rss);
        await delay(25);
      }
    })();
    try {
      const t0 = now();
      const r = await post(`${h.url}/v1/recordings?callId=rss-${label}`, generatedBody(size), {
        agent: new http.Agent({ keepAlive: false }),
        length: size,
        headers: recordingHeaders(key),
      });
      if (r.status !== 202) throw new Error(`POST ${r.status} ${r.body}`);
      const tSpooled = now();
      const id = JSON.parse(r.body.toString()).id as string;
      for (;;) {
        const s = await statusOf(h.ctx.db, id);
        if (s === 'stored') break;
        if (s === 'failed' || s === 'blocked') throw new Error(`recording ${id} is ${s}`);
        if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode}`);
        await delay(50);
      }
      const tStored = now();
      sampling = false;
      await sampler;
      const after = await memoryOf(pid);
      const peak = peakReset ? after.hwm : Math.max(after.hwm, maxRss);
      const transferS = (tStored - tSpooled) / 1000;
      progress(
        `rss(${label}): spooled in ${((tSpooled - t0) / 1000).toFixed(1)} s, transferred in ` +
          `${transferS.toFixed(1)} s; peak ${(peak / MiB).toFixed(0)} MiB ` +
          `(VmHWM ${(after.hwm / MiB).toFixed(0)}, sampled max ${(maxRss / MiB).toFixed(0)})`,
      );
      return {
        idle: idle.rss,
        startupPeak: idle.hwm,
        peak,
        peakReset,
        aboveIdle: peak - before.rss,
        transferMiBs: size / MiB / transferS,
      };
    } finally {
      sampling = false;
      await sampler;
    }
  } finally {
    await worker.stop();
  }
}

/**
 * The same CLI compiled to JavaScript (as `npm run build` would) into a temp directory
 * outside the tree, with node_modules linked in: what `node bin/custody.js worker` runs
 * in production, without tsx's loader.
 */
async function compileToTemp(): Promise<string> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'custody-bench-build-'));
  await symlink(path.join(ROOT, 'node_modules'), path.join(out, 'node_modules'), 'dir');
  await copyFile(path.join(ROOT, 'package.json'), path.join(out, 'package.json'));
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const code = await new Promise<number | null>((resolve) => {
    const p = spawn(
      process.execPath,
      [tsc, '-p', 'tsconfig.build.json', '--outDir', out, '--sourceMap', 'false'],
      {
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'ignore'],
      },
    );
    p.once('exit', resolve);
  });
  // tsc emits despite type errors (someone may be mid-edit); only a missing entry point is fatal.
  const main = path.join(out, 'src', 'cli', 'main.js');
  if (!(await stat(main).catch(() => undefined))) {
    await rm(out, { recursive: true, force: true });
    throw new Error(`tsc exited ${code} without emitting ${main}`);
  }
  return out;
}

/**
 * Peak RSS of a worker process (`node --import tsx src/cli/main.ts worker`) while it
 * transfers one large recording; the API runs in this process. Also its idle RSS, as
 * tsx and the libraries cost memory before any work, and (unless `compiled: false`) the
 * same for the compiled JavaScript, which is what production runs.
 */
export async function runRssBench(opts: { size?: number; compiled?: boolean } = {}): Promise<BenchRow[]> {
  const size = opts.size ?? 2 * GiB;
  const sizeLabel = size >= GiB ? `${size / GiB} GiB` : `${size / MiB} MiB`;
  const h = await startBenchHarness({ workers: false });
  let build: string | undefined;
  try {
    const { key } = await setupTenant(h, 'bench-rss');
    const rows: BenchRow[] = [];
    const report = (m: WorkerMemory, label: string, target: boolean) => {
      rows.push(
        { name: `rss: worker idle RSS after start (${label})`, value: m.idle / MiB, unit: 'MiB' },
        { name: `rss: worker start-up peak VmHWM (${label})`, value: m.startupPeak / MiB, unit: 'MiB' },
        {
          name: `rss: worker peak RSS transferring ${sizeLabel} (${label})${m.peakReset ? '' : ' incl. start-up'}`,
          value: m.peak / MiB,
          unit: 'MiB',
          ...(target ? { target: '≤ 150', ok: m.peak / MiB <= 150 } : {}),
        },
        { name: `rss: worker peak above idle (${label})`, value: m.aboveIdle / MiB, unit: 'MiB' },
        { name: `rss: worker transfer throughput (${label})`, value: m.transferMiBs, unit: 'MiB/s' },
      );
    };
    const tsx = await measureWorker(h, key, ['--import', 'tsx', 'src/cli/main.ts', 'worker'], size, 'tsx');
    report(tsx, 'tsx', true);
    if (opts.compiled !== false) {
      progress('rss: compiling the CLI to a temp directory (tsc)');
      build = await compileToTemp();
      const js = await measureWorker(
        h,
        key,
        [path.join(build, 'src', 'cli', 'main.js'), 'worker'],
        size,
        'js',
      );
      report(js, 'compiled js', false);
    }
    return rows;
  } finally {
    await h.close();
    if (build) await rm(build, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) {
  const rows = await runRssBench({ size: quick() ? 512 * MiB : 2 * GiB });
  printTable('worker memory', rows);
}
