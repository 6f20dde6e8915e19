/**
 * A small Dockerfile reader for the image tests (no Docker engine here to build it).
 * Handles what Docker's own parser does with lines: `#` comment lines (also inside a
 * continued instruction), `\` line continuations, blank lines; instructions are
 * case-insensitive. Only the default escape character is supported (the tests assert
 * that no `# escape=` directive is present).
 */

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, … */
  keyword: string;
  /** Everything after the keyword, continuations joined with a space. */
  args: string;
  /** 1-based line of the keyword. */
  line: number;
}

export interface Stage {
  /** The image or earlier stage it starts from. */
  base: string;
  /** `AS name`, lower-cased as Docker treats it, if any. */
  name: string | undefined;
  index: number;
  instructions: Instruction[];
}

export interface CopySpec {
  /** `--from=` value, if any. */
  from: string | undefined;
  flags: Record<string, string>;
  sources: string[];
  dest: string;
}

export function parseDockerfile(text: string): Instruction[] {
  const lines = text.split(/\r?\n/);
  const out: Instruction[] = [];
  let current: { parts: string[]; line: number } | undefined;
  lines.forEach((raw, i) => {
    const trimmed = raw.trim();
    // Comment and blank lines are dropped entirely, even between continued lines (as
    // Docker does: they neither end nor join an instruction).
    if (trimmed.startsWith('#') || trimmed === '') return;
    const continues = /\\\s*$/.test(raw);
    const body = continues ? raw.replace(/\\\s*$/, '') : raw;
    if (!current) current = { parts: [], line: i + 1 };
    if (body.trim() !== '') current.parts.push(body.trim());
    if (!continues) {
      const joined = current.parts.join(' ');
      const m = /^(\S+)\s*(.*)$/s.exec(joined);
      if (m) out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: current.line });
      current = undefined;
    }
  });
  if (current?.parts.length) {
    const m = /^(\S+)\s*(.*)$/s.exec(current.parts.join(' '));
    if (m) out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: current.line });
  }
  return out;
}

/** Leading `--name=value` flags, then the rest. */
export function splitFlags(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args.trim();
  for (let m = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest); m; m = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest)) {
    flags[m[1]!] = m[2] ?? 'true';
    rest = rest.slice(m[0].length);
  }
  return { flags, rest };
}

/** Instructions grouped by FROM (instructions before the first FROM, i.e. global ARGs, are dropped). */
export function stages(instructions: Instruction[]): Stage[] {
  const out: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const { rest } = splitFlags(ins.args);
      const [base = '', as, name] = rest.split(/\s+/);
      out.push({
        base,
        name: as?.toUpperCase() === 'AS' ? name?.toLowerCase() : undefined,
        index: out.length,
        instructions: [],
      });
    } else {
      out.at(-1)?.instructions.push(ins);
    }
  }
  return out;
}

/** Exec form (`["a", "b"]`) as an array; shell form as undefined. */
export function execForm(args: string): string[] | undefined {
  if (!args.trim().startsWith('[')) return undefined;
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) {
    throw new Error(`not a JSON array of strings: ${args}`);
  }
  return parsed;
}

export function parseCopy(args: string): CopySpec {
  const { flags, rest } = splitFlags(args);
  const words = execForm(rest) ?? rest.split(/\s+/);
  if (words.length < 2) throw new Error(`COPY needs a source and a destination: ${args}`);
  return { from: flags.from, flags, sources: words.slice(0, -1), dest: words.at(-1)! };
}

/** Splits on whitespace outside double or single quotes, removing the quotes. */
function words(text: string): string[] {
  const out: string[] = [];
  let word = '';
  let quote: string | undefined;
  let started = false;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      started = true;
    } else if (/\s/.test(ch)) {
      if (started) out.push(word);
      word = '';
      started = false;
    } else {
      word += ch;
      started = true;
    }
  }
  if (started) out.push(word);
  return out;
}

/**
 * `ENV`/`ARG`/`LABEL` as name → value (`undefined` for a bare `ARG NAME`). Handles
 * `A=1 B="two words"` and the legacy `ENV NAME value with spaces`.
 */
export function keyValues(args: string): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  const ws = words(args);
  if (ws.length > 0 && !ws[0]!.includes('=')) {
    // Legacy form: the first word is the name, the rest is the value (ARG NAME has none).
    out.set(ws[0]!, ws.length > 1 ? ws.slice(1).join(' ') : undefined);
    return out;
  }
  for (const w of ws) {
    const eq = w.indexOf('=');
    if (eq > 0) out.set(w.slice(0, eq), w.slice(eq + 1));
  }
  return out;
}
