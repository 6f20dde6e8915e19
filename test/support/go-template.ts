/**
 * The subset of Go's text/template that the Helm chart's templates use, for the chart tests
 * (no helm binary where they run). Parsed and executed as Go does: `{{- … -}}` trimming,
 * comments, pipelines with `|`, parenthesised pipelines, variables (`$x :=`, `$x =`, `$`),
 * if / else if / else, range (lists and maps, sorted keys) with `$i, $v :=`, with, define
 * and template. Anything else (block, break, method calls, `(…).Field`) is refused with an
 * error rather than guessed at, so a template that outgrows the subset fails its test.
 *
 * Values follow Go's types where that changes the output: numbers from YAML values are
 * float64 (JS number) and print as Go prints them (1e+06, not 1000000), integers from
 * literals, `int`, `int64` and `len` are int (JS bigint); comparing the two is an error,
 * as in Go. A missing map key is "no value": printing it gives `<no value>` (Helm would
 * print nothing; the tests look for the marker), and reading a field of it is an error.
 */

export type Func = (...args: unknown[]) => unknown;

type Arg =
  | { t: 'dot' }
  | { t: 'field'; path: string[] }
  | { t: 'var'; name: string; path: string[] }
  | { t: 'ident'; name: string }
  | { t: 'lit'; value: unknown }
  | { t: 'pipe'; pipe: Pipe };
type Cmd = Arg[];
interface Pipe {
  decl: string[];
  assign: boolean;
  cmds: Cmd[];
}
interface Block {
  t: 'if' | 'range' | 'with';
  pipe: Pipe;
  body: Node[];
  alt: Node[];
}
type Node =
  | { t: 'text'; text: string }
  | { t: 'action'; pipe: Pipe }
  | Block
  | { t: 'template'; name: string; pipe: Pipe | undefined };

export class TemplateError extends Error {}

// ---------- lexing: text and actions ----------

interface Action {
  body: string;
  line: number;
}

const SPACE = /\s/;

function lexFile(src: string, file: string): (string | Action)[] {
  const out: (string | Action)[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      out.push(src.slice(i));
      break;
    }
    let text = src.slice(i, open);
    let k = open + 2;
    if (src[k] === '-' && SPACE.test(src[k + 1] ?? '')) {
      text = text.replace(/\s+$/, '');
      k += 2;
    }
    out.push(text);
    const line = src.slice(0, open).split('\n').length;
    const close = findClose(src, k, `${file}:${line}`);
    let end = close;
    let trimRight = false;
    if (src[close - 1] === '-' && SPACE.test(src[close - 2] ?? '')) {
      trimRight = true;
      end = close - 1;
    }
    const body = src.slice(k, end).trim();
    if (!(body.startsWith('/*') && body.endsWith('*/'))) out.push({ body, line });
    i = close + 2;
    if (trimRight) while (i < src.length && SPACE.test(src[i]!)) i += 1;
  }
  return out;
}

/** Index of the `}}` closing an action, skipping quoted strings, raw strings and comments. */
function findClose(src: string, from: number, where: string): number {
  let p = from;
  while (SPACE.test(src[p] ?? '')) p += 1;
  if (src.startsWith('/*', p)) {
    const end = src.indexOf('*/', p + 2);
    if (end < 0) throw new TemplateError(`${where}: unclosed comment`);
    const close = src.indexOf('}}', end + 2);
    if (close < 0 || !/^\s*-?\s*$/.test(src.slice(end + 2, close)))
      throw new TemplateError(`${where}: comment must end the action`);
    return close;
  }
  for (; p < src.length; p += 1) {
    const c = src[p];
    if (c === '"' || c === "'") {
      for (p += 1; p < src.length && src[p] !== c; p += 1) if (src[p] === '\\') p += 1;
    } else if (c === '`') {
      p = src.indexOf('`', p + 1);
      if (p < 0) break;
    } else if (c === '\n') {
      // Go allows newlines inside actions only within comments (and, since 1.16, between
      // operands); the chart keeps every action on one line.
      throw new TemplateError(`${where}: newline inside an action`);
    } else if (src.startsWith('}}', p)) return p;
  }
  throw new TemplateError(`${where}: unclosed action`);
}

// ---------- tokens inside an action ----------

type Tok =
  | { k: 'str' | 'ident' | 'var'; v: string; path?: string[] }
  | { k: 'num'; v: number | bigint }
  | { k: 'field'; path: string[]; glued: boolean }
  | { k: 'dot' | '|' | '(' | ')' | ':=' | '=' | ',' };

/** Token rules, tried in order at each position: a pattern and the token it makes. */
const RULES: [RegExp, (m: RegExpMatchArray, glued: boolean) => Tok | undefined][] = [
  [/^\s+/, () => undefined],
  [/^"(?:[^"\\]|\\.)*"/, (m) => ({ k: 'str', v: JSON.parse(m[0]) as string })],
  [/^`[^`]*`/, (m) => ({ k: 'str', v: m[0].slice(1, -1) })],
  [
    /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/,
    (m) => ({ k: 'num', v: m[1] || m[2] ? Number(m[0]) : BigInt(m[0]) }),
  ],
  // Glued to a preceding `)`, a field would be Go's (…).Field, which is not supported.
  [/^(\.[A-Za-z_][A-Za-z0-9_]*)+/, (m, glued) => ({ k: 'field', path: m[0].slice(1).split('.'), glued })],
  [/^\./, () => ({ k: 'dot' })],
  [
    /^\$[A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*/,
    (m) => {
      const [name, ...path] = m[0].split('.');
      return { k: 'var', v: name!, path };
    },
  ],
  [/^[A-Za-z_][A-Za-z0-9_]*/, (m) => ({ k: 'ident', v: m[0] })],
  [/^:=/, () => ({ k: ':=' })],
  [/^[|(),=]/, (m) => ({ k: m[0] as '|' })],
];

function tokenize(body: string, where: string): Tok[] {
  const toks: Tok[] = [];
  let p = 0;
  outer: while (p < body.length) {
    const rest = body.slice(p);
    for (const [pattern, make] of RULES) {
      const m = rest.match(pattern);
      if (!m) continue;
      const tok = make(m, body[p - 1] === ')');
      if (tok) toks.push(tok);
      p += m[0].length;
      continue outer;
    }
    throw new TemplateError(`${where}: unexpected ${JSON.stringify(rest.slice(0, 10))}`);
  }
  return toks;
}

function parsePipe(toks: Tok[], pos: number, where: string): { pipe: Pipe; pos: number } {
  const pipe: Pipe = { decl: [], assign: false, cmds: [] };
  const t0 = toks[pos];
  const t1 = toks[pos + 1];
  if (t0?.k === 'var' && (t1?.k === ':=' || t1?.k === '=')) {
    pipe.decl = [t0.v];
    pipe.assign = t1.k === '=';
    pos += 2;
  } else if (t0?.k === 'var' && t1?.k === ',' && toks[pos + 2]?.k === 'var' && toks[pos + 3]?.k === ':=') {
    pipe.decl = [t0.v, (toks[pos + 2] as { v: string }).v];
    pos += 4;
  }
  let cmd: Cmd = [];
  for (; pos < toks.length; pos += 1) {
    const t = toks[pos]!;
    if (t.k === ')') break;
    if (t.k === '|') {
      if (!cmd.length) throw new TemplateError(`${where}: empty command`);
      pipe.cmds.push(cmd);
      cmd = [];
    } else if (t.k === '(') {
      const inner = parsePipe(toks, pos + 1, where);
      if (toks[inner.pos]?.k !== ')') throw new TemplateError(`${where}: unclosed (`);
      const next = toks[inner.pos + 1];
      if (next?.k === 'field' && next.glued) throw new TemplateError(`${where}: (…).Field is not supported`);
      cmd.push({ t: 'pipe', pipe: inner.pipe });
      pos = inner.pos;
    } else if (t.k === 'str' || t.k === 'num') cmd.push({ t: 'lit', value: t.v });
    else if (t.k === 'field') cmd.push({ t: 'field', path: t.path });
    else if (t.k === 'dot') cmd.push({ t: 'dot' });
    else if (t.k === 'var') cmd.push({ t: 'var', name: t.v, path: t.path ?? [] });
    else if (t.k === 'ident') {
      if (t.v === 'true' || t.v === 'false') cmd.push({ t: 'lit', value: t.v === 'true' });
      else if (t.v === 'nil') cmd.push({ t: 'lit', value: null });
      else cmd.push({ t: 'ident', name: t.v });
    } else throw new TemplateError(`${where}: unexpected ${t.k}`);
  }
  if (cmd.length) pipe.cmds.push(cmd);
  if (!pipe.cmds.length) throw new TemplateError(`${where}: missing value`);
  return { pipe, pos };
}

// ---------- parsing actions into a tree ----------

interface Frame {
  node: Block | undefined;
  list: Node[];
  /** An `else if` opened this frame: the one `end` closes it and its parent. */
  chained: boolean;
  define?: string;
}

export interface Parsed {
  root: Node[];
  defines: Map<string, Node[]>;
}

export function parseTemplate(src: string, file: string, defines = new Map<string, Node[]>()): Parsed {
  const root: Node[] = [];
  const stack: Frame[] = [{ node: undefined, list: root, chained: false }];
  const top = () => stack[stack.length - 1]!;
  for (const piece of lexFile(src, file)) {
    if (typeof piece === 'string') {
      if (piece) top().list.push({ t: 'text', text: piece });
      continue;
    }
    const where = `${file}:${piece.line}`;
    const toks = tokenize(piece.body, where);
    const word = toks[0]?.k === 'ident' ? toks[0].v : undefined;
    const pipeFrom = (i: number) => {
      const { pipe, pos } = parsePipe(toks, i, where);
      if (pos < toks.length) throw new TemplateError(`${where}: unexpected )`);
      return pipe;
    };
    if (word === 'if' || word === 'range' || word === 'with') {
      const node: Block = { t: word, pipe: pipeFrom(1), body: [], alt: [] };
      top().list.push(node);
      stack.push({ node, list: node.body, chained: false });
    } else if (word === 'else') {
      const frame = top();
      if (!frame.node) throw new TemplateError(`${where}: else outside if/range/with`);
      if (toks[1]?.k === 'ident' && (toks[1].v === 'if' || toks[1].v === 'with')) {
        const node: Block = { t: toks[1].v, pipe: pipeFrom(2), body: [], alt: [] };
        frame.node.alt.push(node);
        stack.push({ node, list: node.body, chained: true });
      } else frame.list = frame.node.alt;
    } else if (word === 'end') {
      let frame: Frame;
      do {
        frame = stack.pop()!;
        if (!stack.length) throw new TemplateError(`${where}: end without a block`);
      } while (frame.chained);
      if (frame.define) defines.set(frame.define, frame.list);
    } else if (word === 'define') {
      const name = toks[1];
      if (name?.k !== 'str' || toks.length !== 2) throw new TemplateError(`${where}: define "name"`);
      stack.push({ node: undefined, list: [], chained: false, define: name.v });
    } else if (word === 'template') {
      const name = toks[1];
      if (name?.k !== 'str') throw new TemplateError(`${where}: template "name"`);
      top().list.push({ t: 'template', name: name.v, pipe: toks.length > 2 ? pipeFrom(2) : undefined });
    } else if (word === 'block' || word === 'break' || word === 'continue') {
      throw new TemplateError(`${where}: {{ ${word} }} is not supported by this renderer`);
    } else top().list.push({ t: 'action', pipe: pipeFrom(0) });
  }
  if (stack.length !== 1) throw new TemplateError(`${file}: unclosed block`);
  return { root, defines };
}

// ---------- values as Go sees them ----------

export const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Go's truth: false, 0, nil and empty strings, lists and maps are false. */
export function truth(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'bigint') return v !== 0n;
  if (typeof v === 'string' || Array.isArray(v)) return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return true;
}

/** fmt.Sprint of a float64 (%v: shortest digits, exponent from 1e+06 or below 1e-04). */
export function goFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : '-Inf';
  if (x === 0) return '0';
  const [mantissa, e] = x.toExponential().split('e') as [string, string];
  const exp = Number(e);
  if (exp < -4 || exp >= 6)
    return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(x);
}

/** fmt.Sprint of any value. */
export function goPrint(v: unknown): string {
  if (v === undefined || v === null) return '<no value>';
  if (typeof v === 'number') return goFloat(v);
  if (typeof v === 'string' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  const inner = (x: unknown) => (x === undefined || x === null ? '<nil>' : goPrint(x));
  if (Array.isArray(v)) return `[${v.map(inner).join(' ')}]`;
  if (isMap(v))
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${inner(v[k])}`)
      .join(' ')}]`;
  return String(v);
}

// ---------- execution ----------

interface Var {
  name: string;
  value: unknown;
}

const NONE = Symbol('no piped value');

export class Executor {
  private depth = 0;

  constructor(
    readonly defines: Map<string, Node[]>,
    readonly funcs: Record<string, Func>,
  ) {}

  /** Runs a named template with `data` as both dot and `$` (as `include` does). */
  runDefine(name: string, data: unknown): string {
    const body = this.defines.get(name);
    if (!body) throw new TemplateError(`no template "${name}"`);
    return this.run(body, data);
  }

  run(nodes: Node[], data: unknown): string {
    if (++this.depth > 200) throw new TemplateError('templates nest too deep');
    try {
      return this.list(nodes, data, [{ name: '$', value: data }]);
    } finally {
      this.depth -= 1;
    }
  }

  private list(nodes: Node[], dot: unknown, vars: Var[]): string {
    const mark = vars.length;
    let out = '';
    for (const n of nodes) out += this.node(n, dot, vars);
    vars.length = mark;
    return out;
  }

  private node(n: Node, dot: unknown, vars: Var[]): string {
    switch (n.t) {
      case 'text':
        return n.text;
      case 'action': {
        const v = this.pipe(n.pipe, dot, vars);
        return n.pipe.decl.length ? '' : goPrint(v);
      }
      case 'template':
        return this.runDefineAt(n.name, n.pipe ? this.pipe(n.pipe, dot, vars) : null);
      case 'if':
      case 'with': {
        const mark = vars.length;
        const v = this.pipe(n.pipe, dot, vars);
        const out = truth(v)
          ? this.list(n.body, n.t === 'with' ? v : dot, vars)
          : this.list(n.alt, dot, vars);
        vars.length = mark;
        return out;
      }
      case 'range':
        return this.range(n, dot, vars);
    }
  }

  private runDefineAt(name: string, data: unknown): string {
    return this.runDefine(name, data);
  }

  private range(n: Block, dot: unknown, vars: Var[]): string {
    const decl = n.pipe.decl;
    const v = this.pipe({ ...n.pipe, decl: [] }, dot, vars);
    let entries: [unknown, unknown][];
    if (v === undefined || v === null) entries = [];
    else if (Array.isArray(v)) entries = v.map((x, i) => [BigInt(i), x]);
    else if (isMap(v))
      entries = Object.keys(v)
        .sort()
        .map((k) => [k, v[k]]);
    else throw new TemplateError(`range can't iterate over ${goPrint(v)}`);
    if (!entries.length) return this.list(n.alt, dot, vars);
    let out = '';
    for (const [key, value] of entries) {
      const mark = vars.length;
      if (decl.length === 1) vars.push({ name: decl[0]!, value });
      if (decl.length === 2) vars.push({ name: decl[0]!, value: key }, { name: decl[1]!, value });
      out += this.list(n.body, value, vars);
      vars.length = mark;
    }
    return out;
  }

  private pipe(p: Pipe, dot: unknown, vars: Var[]): unknown {
    let value: unknown = NONE;
    for (const cmd of p.cmds) value = this.cmd(cmd, dot, vars, value);
    if (p.decl.length === 1) {
      const name = p.decl[0]!;
      if (p.assign) {
        const found = [...vars].reverse().find((x) => x.name === name);
        if (!found) throw new TemplateError(`undefined variable ${name}`);
        found.value = value;
      } else vars.push({ name, value });
    }
    return value;
  }

  private cmd(cmd: Cmd, dot: unknown, vars: Var[], piped: unknown): unknown {
    const [first, ...rest] = cmd as [Arg, ...Arg[]];
    if (first.t !== 'ident') {
      if (rest.length || piped !== NONE) throw new TemplateError("can't give argument to non-function");
      return this.arg(first, dot, vars);
    }
    const name = first.name;
    if (name === 'and' || name === 'or') {
      // Short-circuit, as Go does since 1.18: later arguments are not evaluated.
      const thunks = rest.map((a) => () => this.arg(a, dot, vars));
      if (piped !== NONE) thunks.push(() => piped);
      let last: unknown;
      for (const thunk of thunks) {
        last = thunk();
        if (truth(last) === (name === 'or')) return last;
      }
      return last;
    }
    const fn = this.funcs[name];
    if (!fn) throw new TemplateError(`function "${name}" is not in this renderer`);
    const args = rest.map((a) => this.arg(a, dot, vars));
    if (piped !== NONE) args.push(piped);
    return fn(...args);
  }

  private arg(a: Arg, dot: unknown, vars: Var[]): unknown {
    switch (a.t) {
      case 'dot':
        return dot;
      case 'lit':
        return a.value;
      case 'field':
        return walk(dot, a.path);
      case 'var': {
        const found = [...vars].reverse().find((x) => x.name === a.name);
        if (!found) throw new TemplateError(`undefined variable ${a.name}`);
        return walk(found.value, a.path);
      }
      case 'pipe':
        return this.pipe(a.pipe, dot, vars);
      case 'ident':
        return this.cmd([a], dot, vars, NONE);
    }
  }
}

/** Field access as Go does on map[string]interface{}: a missing key is nil, nil has no fields. */
function walk(value: unknown, path: string[]): unknown {
  let v = value;
  for (const seg of path) {
    if (v === undefined || v === null) throw new TemplateError(`nil pointer evaluating interface {}.${seg}`);
    if (!isMap(v)) throw new TemplateError(`can't evaluate field ${seg} in ${goPrint(v)}`);
    v = Object.hasOwn(v, seg) ? v[seg] : undefined;
  }
  return v;
}
