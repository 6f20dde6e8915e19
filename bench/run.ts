import { runCryptoBench } from './crypto.js';
import { environmentLine, GiB, loadAverage, MiB, now, progress, quick } from './common.js';
import { runE2eBench } from './e2e.js';
import { runRssBench } from './rss.js';
import { runSeekBench } from './seek.js';
import { type BenchRow, printTable } from './table.js';
import { runWrapBench } from './wraps.js';

/**
 * `npm run bench [-- --quick]`: every part in one run, one table. Each part is also
 * runnable alone (`npx tsx bench/e2e.ts`, `seek.ts`, `rss.ts`, `wraps.ts`, `crypto.ts`).
 */
const isQuick = quick();
const sizes = isQuick
  ? { recordings: 200, seek: 256 * MiB, rss: 512 * MiB, wraps: 30, cryptoMiB: 64, cryptoRounds: 2 }
  : { recordings: 1000, seek: GiB, rss: 2 * GiB, wraps: 100, cryptoMiB: 256, cryptoRounds: 3 };

const parts: [string, () => Promise<BenchRow[]>][] = [
  ['end to end', () => runE2eBench({ count: sizes.recordings, split: true })],
  ['key-provider wraps', () => runWrapBench({ count: sizes.wraps })],
  ['seek', () => runSeekBench({ size: sizes.seek })],
  ['worker memory', () => runRssBench({ size: sizes.rss })],
  [
    'crypto',
    async () =>
      (await runCryptoBench({ mib: sizes.cryptoMiB, rounds: sizes.cryptoRounds })).map((r) => ({
        ...r,
        name: `crypto: ${r.name}`,
      })),
  ],
];

const rows: BenchRow[] = [];
const failures: string[] = [];
const t0 = now();
const loadAtStart = loadAverage();
for (const [name, run] of parts) {
  progress(`${name}…`);
  const started = now();
  try {
    rows.push(...(await run()));
  } catch (err) {
    // One broken part must not hide the others' figures; it still fails the run.
    failures.push(`${name}: ${(err as Error).stack ?? err}`);
    rows.push({ name: `${name}: FAILED (see stderr)`, value: Number.NaN, unit: '', ok: false });
  }
  progress(`${name} done in ${((now() - started) / 1000).toFixed(0)} s`);
}

printTable(`Custody benchmarks${isQuick ? ' (--quick)' : ''}`, rows);
process.stdout.write(`\n${environmentLine(loadAtStart)}; total ${((now() - t0) / 1000).toFixed(0)} s\n`);
for (const f of failures) process.stderr.write(`\n${f}\n`);
const missed = rows.filter((r) => r.ok === false).length;
if (missed) process.stdout.write(`${missed} target(s) not met\n`);
process.exitCode = failures.length ? 1 : 0;
