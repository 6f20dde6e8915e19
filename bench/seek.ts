import http from 'node:http';
import { api, setupTenant } from '../test/support/client.js';
import {
  GiB,
  generatedBody,
  isMain,
  MiB,
  median,
  now,
  post,
  progress,
  quick,
  recordingHeaders,
  startBenchHarness,
  waitRecordingStored,
} from './common.js';
import { type BenchRow, printTable } from './table.js';

/**
 * Time to the first body byte of a ranged GET on a fresh connection; the rest of the
 * body is not read (the connection is dropped once the first byte is in).
 */
function timeToFirstByte(url: string, range: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const req = http.get(url, { agent: false, headers: { range } }, (res) => {
      if (res.statusCode !== 206) {
        req.destroy();
        reject(new Error(`${range}: HTTP ${res.statusCode}`));
        return;
      }
      res.once('data', () => {
        const ms = now() - t0;
        req.destroy();
        resolve(ms);
      });
      res.once('error', () => {});
    });
    req.once('error', reject);
  });
}

/**
 * Seek: TTFB of `Range: bytes=<90%>-` vs `bytes=0-` on a large stored recording
 * (ingested from a generated stream), medians of `tries` each, interleaved.
 */
export async function runSeekBench(opts: { size?: number; tries?: number } = {}): Promise<BenchRow[]> {
  const size = opts.size ?? GiB;
  const tries = opts.tries ?? 15;
  const h = await startBenchHarness();
  try {
    const { key } = await setupTenant(h, 'bench-seek');
    progress(`seek: ingesting ${size / MiB} MiB (streamed)`);
    const agent = new http.Agent({ keepAlive: false });
    const t0 = now();
    const r = await post(`${h.url}/v1/recordings?callId=seek`, generatedBody(size), {
      agent,
      length: size,
      headers: recordingHeaders(key),
    });
    if (r.status !== 202) throw new Error(`POST ${r.status} ${r.body}`);
    const id = JSON.parse(r.body.toString()).id as string;
    await waitRecordingStored(h.ctx.db, id, 30 * 60_000);
    progress(`seek: stored in ${((now() - t0) / 1000).toFixed(1)} s; timing first bytes`);
    const link = await api(h, 'POST', `/v1/recordings/${id}/playback-link`, { token: key, json: {} });
    if (link.status !== 201) throw new Error(`playback-link ${link.status}`);
    const url = link.body.url as string;
    const deep = `bytes=${Math.floor(size * 0.9)}-`;
    const start = 'bytes=0-';
    // Warm-up: JIT, the page cache around both positions, the data-key cache.
    for (let i = 0; i < 3; i++) {
      await timeToFirstByte(url, start);
      await timeToFirstByte(url, deep);
    }
    const atStart: number[] = [];
    const atDeep: number[] = [];
    for (let i = 0; i < tries; i++) {
      // Alternate which goes first so drift hits both alike.
      if (i % 2) {
        atStart.push(await timeToFirstByte(url, start));
        atDeep.push(await timeToFirstByte(url, deep));
      } else {
        atDeep.push(await timeToFirstByte(url, deep));
        atStart.push(await timeToFirstByte(url, start));
      }
    }
    const [s, d] = [median(atStart), median(atDeep)];
    const label = size >= GiB ? `${size / GiB} GiB` : `${size / MiB} MiB`;
    return [
      { name: `seek: TTFB Range bytes=0- (${label}, median of ${tries})`, value: s, unit: 'ms' },
      {
        name: `seek: TTFB Range bytes=90%- (${label}, median of ${tries})`,
        value: d,
        unit: 'ms',
        baseline: 'bytes=0-',
        ratio: d / s,
        target: '≤ 2',
        ok: d / s <= 2,
      },
    ];
  } finally {
    await h.close();
  }
}

if (isMain(import.meta.url)) {
  const rows = await runSeekBench({ size: quick() ? 256 * MiB : GiB });
  printTable('seek', rows);
}
