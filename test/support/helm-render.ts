/**
 * Renders the Helm chart for the chart tests without helm (no helm binary here): loads
 * Chart.yaml, values.yaml and templates/, merges value overlays as `helm -f` does,
 * validates the result against values.schema.json as `helm template` does, then runs the
 * templates through test/support/go-template.ts with the Sprig functions the chart uses.
 * Functions outside that list fail the render, so the chart cannot silently drift beyond
 * what is checked here. What this is not: Helm's own lint, its Kubernetes-version
 * capabilities, hooks ordering or `lookup`.
 */

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';
import { Executor, type Func, goPrint, isMap, parseTemplate, TemplateError, truth } from './go-template.js';

/**
 * Helm reads YAML with go-yaml, which follows YAML 1.1: unquoted on/off/yes/no are
 * booleans, 0440 is octal. Parsing as 1.1 here makes the tests see what Helm and the
 * Kubernetes API would.
 */
export const YAML_11 = { version: '1.1' } as const;

export type Values = Record<string, unknown>;

export function readYaml(file: string): unknown {
  return parseYaml(readFileSync(file, 'utf8'), { ...YAML_11, uniqueKeys: true, prettyErrors: true });
}

/** `helm -f`: maps merge key by key, anything else replaces, `null` removes the key. */
export function mergeValues(base: Values, overlay: Values): Values {
  const out: Values = { ...base };
  for (const [k, v] of Object.entries(overlay)) {
    if (v === null) delete out[k];
    else if (isMap(v) && isMap(out[k])) out[k] = mergeValues(out[k] as Values, v);
    else out[k] = v;
  }
  return out;
}

export interface Chart {
  dir: string;
  metadata: Values;
  values: Values;
  schema: Values;
  /** templates/ files by name, `_*.tpl` included. */
  templates: Map<string, string>;
}

export function loadChart(dir: string): Chart {
  const templates = new Map<string, string>();
  for (const name of readdirSync(path.join(dir, 'templates')).sort())
    templates.set(name, readFileSync(path.join(dir, 'templates', name), 'utf8'));
  return {
    dir,
    metadata: readYaml(path.join(dir, 'Chart.yaml')) as Values,
    values: readYaml(path.join(dir, 'values.yaml')) as Values,
    schema: JSON.parse(readFileSync(path.join(dir, 'values.schema.json'), 'utf8')) as Values,
    templates,
  };
}

/** Strict ajv (unknown keywords, type mistakes in the schema itself are errors). */
export function schemaValidator(schema: Values) {
  const ajv = new Ajv({ strict: true, allowUnionTypes: true, allErrors: true });
  const validate = ajv.compile(schema);
  return (values: unknown) => {
    const ok = validate(values);
    return { ok, errors: (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`) };
  };
}

export interface RenderOptions {
  overlays?: Values[];
  releaseName?: string;
  namespace?: string;
  isUpgrade?: boolean;
}

export interface Rendered {
  values: Values;
  /** Rendered manifests by template file name (empty ones left out, as Helm does). */
  files: Map<string, string>;
  notes: string;
}

export function renderChart(chart: Chart, opts: RenderOptions = {}): Rendered {
  const values = (opts.overlays ?? []).reduce(mergeValues, chart.values);
  const check = schemaValidator(chart.schema)(values);
  if (!check.ok)
    throw new Error(`values don't meet the specifications of the schema: ${check.errors.join('; ')}`);

  const defines = new Map();
  const roots = new Map<string, ReturnType<typeof parseTemplate>['root']>();
  for (const [name, text] of chart.templates) roots.set(name, parseTemplate(text, name, defines).root);
  const exec: Executor = new Executor(
    defines,
    sprig(() => exec),
  );
  const capitalised = Object.fromEntries(
    Object.entries(chart.metadata).map(([k, v]) => [k[0]!.toUpperCase() + k.slice(1), v]),
  );
  const top = {
    Values: values,
    Chart: capitalised,
    Release: {
      Name: opts.releaseName ?? 'custody',
      Namespace: opts.namespace ?? 'default',
      Service: 'Helm',
      IsInstall: !opts.isUpgrade,
      IsUpgrade: Boolean(opts.isUpgrade),
      Revision: opts.isUpgrade ? 2n : 1n,
    },
  };
  const files = new Map<string, string>();
  let notes = '';
  for (const [name, root] of roots) {
    if (name.startsWith('_')) continue;
    let out: string;
    try {
      out = exec.run(root, top);
    } catch (err) {
      throw new Error(`${name}: ${(err as Error).message}`, { cause: err });
    }
    if (name === 'NOTES.txt') notes = out;
    else if (out.trim()) files.set(name, out);
  }
  return { values, files, notes };
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  [k: string]: any;
}

/** Every document of every rendered file, parsed strictly (duplicate keys are errors). */
export function objects(rendered: Rendered): (K8sObject & { file: string })[] {
  const out: (K8sObject & { file: string })[] = [];
  for (const [file, text] of rendered.files) {
    for (const doc of parseAllDocuments(text, { ...YAML_11, uniqueKeys: true })) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const value = doc.toJS() as K8sObject | null;
      if (value !== null) out.push({ ...value, file });
    }
  }
  return out;
}

// ---------- the Sprig subset ----------

const str = (v: unknown) => (typeof v === 'string' ? v : v === undefined || v === null ? '' : goPrint(v));

/** cast.ToInt as Sprig's int/int64 use it: floats truncate, unparsable strings give 0. */
function toInt(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (typeof v === 'string' && /^-?[0-9]+$/.test(v.trim())) return BigInt(v.trim());
  return 0n;
}

/** Go's eq/lt: same basic kind, or "incompatible types for comparison" (int vs float64 too). */
function kindOf(v: unknown): string {
  if (v === undefined || v === null) throw new TemplateError('invalid type for comparison (nil)');
  if (['bigint', 'number', 'string', 'boolean'].includes(typeof v)) return typeof v;
  throw new TemplateError(`invalid type for comparison: ${goPrint(v)}`);
}
function compare(a: unknown, b: unknown, ordered: boolean): number {
  const ka = kindOf(a);
  if (ka !== kindOf(b))
    throw new TemplateError(`incompatible types for comparison: ${goPrint(a)}, ${goPrint(b)}`);
  if (ordered && ka === 'boolean') throw new TemplateError('invalid type for comparison: bool');
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

/** Sprig's empty: nil, false, 0, "" and empty lists and maps. */
const empty = (v: unknown) => !truth(v);

function indent(n: unknown, s: unknown) {
  const pad = ' '.repeat(Number(toInt(n)));
  return pad + str(s).replaceAll('\n', `\n${pad}`);
}

/** sigs.k8s.io/yaml as Helm's toYaml uses it: sorted keys, block style, no trailing newline. */
function toYaml(v: unknown): string {
  const plain = JSON.parse(JSON.stringify(v ?? null, (_k, x) => (typeof x === 'bigint' ? Number(x) : x)));
  return stringify(plain, { ...YAML_11, sortMapEntries: true, indentSeq: false, lineWidth: 0 }).replace(
    /\n$/,
    '',
  );
}

/** printf with the verbs the chart uses: %s, %d (ints only, as Go), %v, %q. */
function printf(format: unknown, ...args: unknown[]): string {
  let i = 0;
  return str(format).replace(/%([sdvq%])/g, (_m, verb: string) => {
    if (verb === '%') return '%';
    const a = args[i++];
    if (verb === 'd') {
      if (typeof a !== 'bigint') return `%!d(${goPrint(a)})`;
      return String(a);
    }
    return verb === 'q' ? JSON.stringify(str(a)) : str(a);
  });
}

function sprig(exec: () => Executor): Record<string, Func> {
  return {
    include: (name, data) => exec().runDefine(str(name), data),
    required: (msg, v) => {
      if (v === undefined || v === null || v === '') throw new TemplateError(str(msg));
      return v;
    },
    fail: (msg) => {
      throw new TemplateError(str(msg));
    },
    default: (d, ...given) => (given.length === 0 || empty(given[0]) ? d : given[0]),
    empty,
    not: (v) => !truth(v),
    eq: (a, ...bs) => bs.some((b) => compare(a, b, false) === 0),
    ne: (a, b) => compare(a, b, false) !== 0,
    lt: (a, b) => compare(a, b, true) < 0,
    le: (a, b) => compare(a, b, true) <= 0,
    gt: (a, b) => compare(a, b, true) > 0,
    ge: (a, b) => compare(a, b, true) >= 0,
    ternary: (t, f, cond) => {
      if (typeof cond !== 'boolean') throw new TemplateError('ternary: condition must be a bool');
      return cond ? t : f;
    },
    quote: (...xs) =>
      xs
        .filter((x) => x !== undefined && x !== null)
        .map((x) => JSON.stringify(str(x)))
        .join(' '),
    squote: (...xs) =>
      xs
        .filter((x) => x !== undefined && x !== null)
        .map((x) => `'${str(x)}'`)
        .join(' '),
    toString: (v: unknown) => str(v),
    toYaml,
    indent,
    nindent: (n, s) => `\n${indent(n, s)}`,
    trim: (s) => str(s).trim(),
    trunc: (n, s) => {
      const c = Number(toInt(n));
      const t = str(s);
      if (c < 0) return t.length + c > 0 ? t.slice(t.length + c) : t;
      return t.length > c ? t.slice(0, c) : t;
    },
    trimSuffix: (suffix, s) =>
      str(s).endsWith(str(suffix)) ? str(s).slice(0, -str(suffix).length || undefined) : str(s),
    replace: (from, to, s) => str(s).replaceAll(str(from), str(to)),
    contains: (sub, s) => str(s).includes(str(sub)),
    printf,
    b64enc: (s) => Buffer.from(str(s)).toString('base64'),
    sha256sum: (s) => createHash('sha256').update(str(s)).digest('hex'),
    int: toInt,
    int64: toInt,
    len: (v) => {
      if (typeof v === 'string' || Array.isArray(v)) return BigInt(v.length);
      if (isMap(v)) return BigInt(Object.keys(v).length);
      throw new TemplateError(`len of ${goPrint(v)}`);
    },
    list: (...xs) => xs,
    append: (xs, x) => {
      if (!Array.isArray(xs)) throw new TemplateError('append: not a list');
      return [...xs, x];
    },
    join: (sep, xs) => (Array.isArray(xs) ? xs.map(str).join(str(sep)) : str(xs)),
    splitList: (sep, s) => str(s).split(str(sep)),
    dict: (...kv) => {
      const out: Values = {};
      for (let i = 0; i < kv.length; i += 2) out[str(kv[i])] = kv[i + 1];
      return out;
    },
    index: (v, ...keys) => {
      let cur = v;
      for (const k of keys) {
        if (Array.isArray(cur)) {
          const i = Number(toInt(k));
          if (i < 0 || i >= cur.length) throw new TemplateError(`index out of range: ${i}`);
          cur = cur[i];
        } else if (isMap(cur)) cur = Object.hasOwn(cur, str(k)) ? cur[str(k)] : undefined;
        else throw new TemplateError(`can't index item of type ${goPrint(cur)}`);
      }
      return cur;
    },
    hasKey: (m, k) => isMap(m) && Object.hasOwn(m, str(k)),
  };
}
