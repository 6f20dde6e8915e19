import type { Command } from 'commander';

/** Options every admin command takes. */
export interface JsonOption {
  json?: boolean;
}

/** `--json`: print the API's JSON reply instead of the human summary. */
export const withJson = (cmd: Command) => cmd.option('--json', 'print the API’s JSON reply (for scripts)');

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** The API's JSON with `--json`, else the human summary. */
export function emit(opts: JsonOption, value: unknown, human: () => void): void {
  if (opts.json) printJson(value);
  else human();
}

const text = (v: unknown): string =>
  v === undefined || v === null || v === '' ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v);

/** `label  value` lines, labels aligned; undefined values are left out. */
export function printFields(pairs: [string, unknown][]): void {
  const shown = pairs.filter(([, v]) => v !== undefined);
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  for (const [k, v] of shown) process.stdout.write(`${k.padEnd(width)}  ${text(v)}\n`);
}

/** A plain aligned table with a header row; `(none)` when empty. */
export function printTable(headers: string[], rows: unknown[][]): void {
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const cells = [headers, ...rows.map((r) => r.map(text))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  for (const r of cells) {
    process.stdout.write(`${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}\n`);
  }
}

/** Human notes that are not the command's result (scripts read stdout only). */
export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}
