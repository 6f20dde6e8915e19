import { rerunTrustingTestCa, runAzureBench, testCaTrusted } from './azure.js';
import { runCryptoBench } from './crypto.js';
import { environmentLine, GiB, loadAverage, MiB, now, progress, quick } from './common.js';
import { runE2eBench } from './e2e.js';
import { runRssBench } from './rss.js';
import { runS3Bench } from './s3.js';
import { rewrapSizes, runRewrapBench } from './rewrap.js';
import { runSeekBench } from './seek.js';
import { type BenchRow, printTable } from './table.js';
import { uploadCompareSizes } from './upload-compare.js';
import { runWrapBench } from './wraps.js';

/**
 * `npm run bench [-- [--quick] [part…]]`: the named parts (e2e, wraps, seek, rss, crypto,
 * s3, azure, rewrap), or every part when none is named, in one run, one table. Each part is also
 * runnable alone (`npx tsx bench/e2e.ts`, `seek.ts`, `rss.ts`, `wraps.ts`, `crypto.ts`, `s3.ts`,
 * `azure.ts`).
 */
const isQuick = quick();
const sizes = isQuick
  ? {
      recordings: 200,
      seek: 256 * MiB,
      rss: 512 * MiB,
      wraps: 30,
      cryptoMiB: 64,
      cryptoRounds: 2,
    }
  : {
      recordings: 1000,
      seek: GiB,
      rss: 2 * GiB,
      wraps: 100,
      cryptoMiB: 256,
      cryptoRounds: 3,
    };

/** [id on the command line, name in progress lines, run]. */
const allParts: [string, string, () => Promise<BenchRow[]>][] = [
  ['e2e', 'end to end', () => runE2eBench({ count: sizes.recordings, split: true })],
  ['wraps', 'key-provider wraps', () => runWrapBench({ count: sizes.wraps })],
  ['seek', 'seek', () => runSeekBench({ size: sizes.seek })],
  ['rss', 'worker memory', () => runRssBench({ size: sizes.rss })],
  [
    'crypto',
    'crypto',
    async () =>
      (await runCryptoBench({ mib: sizes.cryptoMiB, rounds: sizes.cryptoRounds })).map((r) => ({
        ...r,
        name: `crypto: ${r.name}`,
      })),
  ],
  ['s3', 'S3 end to end', () => runS3Bench(uploadCompareSizes(isQuick))],
  ['azure', 'Azure end to end', () => runAzureBench(uploadCompareSizes(isQuick))],
  ['rewrap', 'rewrap after rotation', () => runRewrapBench(rewrapSizes(isQuick))],
];

// Any argument that is not an option names a part to run; a typo must not silently run nothing.
const named = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = named.filter((n) => !allParts.some(([id]) => id === n));
if (unknown.length) {
  process.stderr.write(
    `unknown bench part(s): ${unknown.join(', ')}; known: ${allParts.map(([id]) => id).join(', ')}\n`,
  );
  process.exit(2);
}
const parts = named.length ? allParts.filter(([id]) => named.includes(id)) : allParts;
// Azurite and the Entra ID / Key Vault stand-in serve HTTPS under the test CA, which Node
// trusts only through NODE_EXTRA_CA_CERTS at start: if it is missing, run again with it.
if (parts.some(([id]) => id === 'azure') && !testCaTrusted()) process.exit(await rerunTrustingTestCa());

const rows: BenchRow[] = [];
const failures: string[] = [];
const t0 = now();
const loadAtStart = loadAverage();
for (const [, name, run] of parts) {
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

printTable(
  `Custody benchmarks${named.length ? ` (${named.join(', ')})` : ''}${isQuick ? ' (--quick)' : ''}`,
  rows,
);
process.stdout.write(`\n${environmentLine(loadAtStart)}; total ${((now() - t0) / 1000).toFixed(0)} s\n`);
for (const f of failures) process.stderr.write(`\n${f}\n`);
const missed = rows.filter((r) => r.ok === false).length;
if (missed) process.stdout.write(`${missed} target(s) not met\n`);
process.exitCode = failures.length ? 1 : 0;
