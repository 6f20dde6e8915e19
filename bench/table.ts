/** One measured figure, optionally compared with a baseline against a target. */
export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  /** What `ratio` compares against, e.g. "native GCM". */
  baseline?: string;
  ratio?: number;
  /** Human-readable target, e.g. "≥ 0.8". */
  target?: string;
  ok?: boolean;
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Prints rows as an aligned plain-text table (numbers right-aligned) to stdout. */
export function printTable(title: string, rows: BenchRow[]): void {
  const header = ['name', 'value', 'unit', 'baseline', 'ratio', 'target', 'ok'];
  const cells = rows.map((r) => [
    r.name,
    formatValue(r.value),
    r.unit,
    r.baseline ?? '',
    r.ratio === undefined ? '' : r.ratio.toFixed(2),
    r.target ?? '',
    r.ok === undefined ? '' : r.ok ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const rightAligned = new Set([1, 4]);
  const line = (c: string[]) =>
    c
      .map((v, i) => (rightAligned.has(i) ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [title, '='.repeat(title.length), line(header), line(widths.map((w) => '-'.repeat(w)))];
  for (const c of cells) out.push(line(c));
  process.stdout.write(`${out.join('\n')}\n`);
}
