/** What the CLI shows of a key job (the API's progress view). */
export interface JobProgress {
  id: string;
  kind: string;
  status: string;
  total: number;
  done: number;
  failed: number;
  skipped: number;
  remaining: number;
}

const WIDTH = 30;

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * One line: `rewrap [#######-------]  42% 420/1000  failed 0  12.3/s  eta 47s`. The rate
 * is measured over the whole wait (`elapsedSeconds`, `doneAtStart`), so it is what this
 * job actually does, throttling included.
 */
export function progressLine(p: JobProgress, elapsedSeconds: number, doneAtStart: number): string {
  const settled = p.done + p.failed + p.skipped;
  const total = Math.max(p.total, settled);
  const fraction = total === 0 ? 1 : settled / total;
  const filled = Math.round(fraction * WIDTH);
  const bar = `${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}`;
  const rate = elapsedSeconds > 0 ? (settled - doneAtStart) / elapsedSeconds : 0;
  const eta = p.status === 'running' && rate > 0 ? `  eta ${duration(p.remaining / rate)}` : '';
  const pct = String(Math.floor(fraction * 100)).padStart(3);
  return `${p.kind} [${bar}] ${pct}% ${settled}/${total}  failed ${p.failed}  ${rate.toFixed(1)}/s${eta}`;
}

/** Redraws in place on a terminal; elsewhere (pipes, CI logs) only the final line is written. */
export function progressWriter(stream: Pick<NodeJS.WriteStream, 'isTTY' | 'write'> = process.stderr) {
  const live = stream.isTTY === true;
  return {
    update(line: string) {
      if (live) stream.write(`\r\x1b[2K${line}`);
    },
    end(line: string) {
      stream.write(live ? `\r\x1b[2K${line}\n` : `${line}\n`);
    },
  };
}
