import { setTimeout as delay } from 'node:timers/promises';
import { progressWriter } from './job-progress.js';

const POLL_MS = 500;

/**
 * Re-reads a server-side job until `finished` says so. On a terminal the line
 * `label: status, 12s` is redrawn in place on stderr; elsewhere nothing is drawn
 * (the caller prints the outcome).
 */
export async function pollUntil<T>(
  first: T,
  read: () => Promise<T>,
  finished: (v: T) => boolean,
  line: (v: T) => string,
): Promise<T> {
  const out = progressWriter();
  const started = Date.now();
  const live = process.stderr.isTTY === true;
  let current = first;
  while (!finished(current)) {
    out.update(`${line(current)}, ${Math.round((Date.now() - started) / 1000)}s`);
    await delay(POLL_MS);
    current = await read();
  }
  if (live) process.stderr.write('\r\x1b[2K');
  return current;
}
