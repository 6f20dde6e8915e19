import { Transform, type TransformCallback } from 'node:stream';

const MiB = 1024 * 1024;

/**
 * Counts bytes on their way through and draws a progress line on stderr — only when
 * stderr is a terminal and the job is large, so pipes and scripts stay quiet.
 */
export function progress(
  label: string,
  total: number | undefined,
  stream: Pick<NodeJS.WriteStream, 'isTTY' | 'write'> = process.stderr,
): Transform {
  const draw = stream.isTTY === true && (total === undefined || total >= 8 * MiB);
  let done = 0;
  let last = 0;
  const render = (final: boolean) => {
    const pct = total ? ` ${Math.floor((done / total) * 100)}%` : '';
    const of = total ? ` / ${(total / MiB).toFixed(1)}` : '';
    stream.write(`\r${label}${pct} (${(done / MiB).toFixed(1)}${of} MiB)${final ? '\n' : ''}`);
  };
  return new Transform({
    transform(chunk: Buffer, _enc, next: TransformCallback) {
      done += chunk.length;
      if (draw && Date.now() - last > 100) {
        last = Date.now();
        render(false);
      }
      next(null, chunk);
    },
    flush(next: TransformCallback) {
      if (draw) render(true);
      next();
    },
  });
}
