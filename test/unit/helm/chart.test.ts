import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMap } from '../../support/go-template.js';
import { isCollection, isMap as isYamlMap, isScalar, isSeq, parse, parseDocument, visit } from 'yaml';
import { envSchema, secretVariables } from '../../../src/config/env-schema.js';
import {
  loadChart,
  mergeValues,
  readYaml,
  schemaValidator,
  type Values,
  YAML_11,
} from '../../support/helm-render.js';

/*
 * The chart's static checks: its values against its schema, its YAML, and the values its
 * templates read. No helm binary is available here, so `helm lint` and `helm template`
 * were never run; rendering is checked in rendered.test.ts with a renderer of the Go
 * template subset the chart uses (test/support/helm-render.ts).
 */

const DIR = 'helm/custody';
const chart = loadChart(DIR);
const validate = schemaValidator(chart.schema);
const EXAMPLES = readdirSync(path.join(DIR, 'examples')).filter((f) => f.endsWith('.yaml'));
const example = (name: string) => readYaml(path.join(DIR, 'examples', name)) as Values;

type Schema = Record<string, any>;
const definitions = chart.schema.definitions as Record<string, Schema>;
const resolve = (s: Schema): Schema => (s.$ref ? definitions[String(s.$ref).split('/').pop()!]! : s);

/** Every schema node reachable from the root, with its path (definitions via $ref). */
function* schemaNodes(s: Schema, at: string): Generator<[string, Schema]> {
  const node = resolve(s);
  yield [at, node];
  for (const [k, child] of Object.entries((node.properties ?? {}) as Record<string, Schema>))
    yield* schemaNodes(child, `${at}.${k}`);
  if (node.items) yield* schemaNodes(node.items, `${at}[]`);
  if (isMap(node.additionalProperties)) yield* schemaNodes(node.additionalProperties, `${at}{}`);
}

/** Does `.Values.<path>` exist in the schema? A map of strings accepts any key below it. */
function inSchema(segments: string[]): boolean {
  let node = resolve(chart.schema);
  for (const seg of segments) {
    if (node.properties?.[seg]) node = resolve(node.properties[seg]);
    else return isMap(node.additionalProperties);
  }
  return true;
}

describe('values.schema.json', () => {
  it('is draft-07 and compiles under strict ajv', () => {
    expect(chart.schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(() => schemaValidator(chart.schema)).not.toThrow();
  });

  it('closes every object: additionalProperties false, or a map of strings (labels, annotations)', () => {
    const open: string[] = [];
    for (const [at, node] of schemaNodes(chart.schema, '')) {
      if (node.type !== 'object') continue;
      const ap = node.additionalProperties;
      const stringMap = isMap(ap) && ap.type === 'string' && !node.properties;
      if (ap !== false && !stringMap) open.push(at || '(root)');
    }
    expect(open).toEqual([]);
  });

  it('describes every property', () => {
    const bare: string[] = [];
    for (const [at, node] of schemaNodes(chart.schema, ''))
      if (at && !at.endsWith('[]') && !at.endsWith('{}') && !node.description) bare.push(at);
    expect(bare).toEqual([]);
  });

  it('accepts values.yaml, and every example alone and over values.yaml', () => {
    expect(EXAMPLES.sort()).toEqual(['aws-irsa.yaml', 'azure-workload-identity.yaml', 'colocated.yaml']);
    expect(validate(chart.values).errors).toEqual([]);
    for (const name of EXAMPLES) {
      expect(validate(example(name)).errors, name).toEqual([]);
      expect(validate(mergeValues(chart.values, example(name))).errors, name).toEqual([]);
    }
  });

  const rejected: [string, Values, RegExp][] = [
    ['an unknown top-level key', { replicas: 3 }, /must NOT have additional properties/],
    ['a misspelt nested key', { api: { replica: 3 } }, /\/api must NOT have additional properties/],
    ['a number where a count is an integer', { api: { replicas: '2' } }, /\/api\/replicas must be integer/],
    [
      'a number where the environment needs a string',
      { config: { CUSTODY_SPOOL_QUOTA_BYTES: 21474836480 } },
      /must be string/,
    ],
    [
      'a secret in the ConfigMap',
      { config: { DATABASE_URL: 'postgres://u:p@db/c' } },
      /additional properties/,
    ],
    ['a port the chart sets itself', { config: { PORT: '9000' } }, /additional properties/],
    ['an unknown spool mode', { spool: { mode: 'emptydir' } }, /\/spool\/mode must be equal to one of/],
    ['KEDA scaling workers to zero', { worker: { keda: { minReplicas: 0 } } }, /must be >= 1/],
    ['root', { podSecurity: { runAsUser: 0 } }, /must be >= 1/],
    [
      'an open object inside a list',
      { api: { tolerations: [{ key: 'a', tolerate: true }] } },
      /additional properties/,
    ],
  ];
  it.each(rejected)('rejects %s', (_what, overlay, message) => {
    const result = validate(mergeValues(chart.values, overlay));
    expect(result.ok).toBe(false);
    expect(result.errors.join('\n')).toMatch(message);
  });

  it('rejects unquoted on/off, which Helm reads as YAML 1.1 booleans', () => {
    const overlay = parse('config:\n  CUSTODY_LOCAL_PROVIDER: off\n', YAML_11) as Values;
    expect((overlay.config as Values).CUSTODY_LOCAL_PROVIDER).toBe(false);
    expect(validate(mergeValues(chart.values, overlay)).errors.join()).toMatch(/must be string/);
  });

  it('lists every service setting as config, a chart-set variable, a secret or test-only', () => {
    const config = Object.keys((chart.schema.properties as Schema).config.properties);
    // Set by the chart from its own values (ports, mounts), or meaningless in a pod.
    const chartSet = [
      'PORT',
      'CUSTODY_WORKER_METRICS_PORT',
      'CUSTODY_DATA_DIR',
      'CUSTODY_SPOOL_DIR',
      'CUSTODY_INBOX_DIR',
      'CUSTODY_LOCAL_KEY_FILE',
      'CUSTODY_LOCAL_STORAGE_DIR',
    ];
    const testOnly = ['CUSTODY_TEST_CRASH_AT'];
    const service = Object.keys(envSchema.shape);
    const covered = new Set([...config, ...chartSet, ...secretVariables, ...testOnly]);
    expect(service.filter((v) => !covered.has(v))).toEqual([]);
    // …and config holds nothing the service does not read (AWS_REGION is the SDK's).
    expect(config.filter((v) => !service.includes(v) && v !== 'AWS_REGION')).toEqual([]);
  });
});

describe('values.yaml', () => {
  /** Kubernetes requests/limits: any subset of cpu, memory, ephemeral-storage (toYaml'd as given). */
  const subsets = new Set(['#/definitions/quantities']);

  /** Paths of the schema's closed objects beside the keys values.yaml gives them. */
  function compare(schema: Schema, values: unknown, at: string, out: string[]) {
    if (subsets.has(schema.$ref)) return;
    const node = resolve(schema);
    if (node.type !== 'object' || node.additionalProperties !== false || !isMap(values)) return;
    const want = Object.keys(node.properties ?? {}).sort();
    const have = Object.keys(values).sort();
    if (want.join() !== have.join()) out.push(`${at || '(root)'}: schema ${want} / values ${have}`);
    for (const k of have) if (node.properties?.[k]) compare(node.properties[k], values[k], `${at}.${k}`, out);
  }

  it('gives every schema property a default, so no template reads an undefined value', () => {
    const diffs: string[] = [];
    compare(chart.schema, chart.values, '', diffs);
    expect(diffs).toEqual([]);
  });

  it('documents every key with a comment', () => {
    const doc = parseDocument(readFileSync(path.join(DIR, 'values.yaml'), 'utf8'), YAML_11);
    const bare: string[] = [];
    visit(doc, {
      Pair(_key, pair, ancestors) {
        if (ancestors.some((a) => isSeq(a))) return visit.SKIP; // list items (ingress hosts) are examples
        const parent = ancestors.at(-1);
        const first = isYamlMap(parent) && parent.items[0] === pair;
        const key = isScalar(pair.key) ? pair.key : undefined;
        const documented =
          key?.commentBefore ||
          (first && isCollection(parent) && parent.commentBefore) ||
          (first && ancestors.length === 1 && doc.commentBefore);
        if (!documented) bare.push(String(key?.value));
        return undefined;
      },
    });
    expect(bare).toEqual([]);
  });

  it('keeps the local provider off and production on', () => {
    const config = chart.values.config as Values;
    expect(config.CUSTODY_LOCAL_PROVIDER).toBe('off');
    expect(config.NODE_ENV).toBe('production');
    expect((chart.values.spool as Values).mode).toBe('shared-pvc');
  });
});

describe('YAML files of the chart', () => {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else files.push(full);
    }
  };
  walk(DIR);
  const yamlFiles = files.filter((f) => /\.ya?ml$/.test(f) && !f.includes(`${path.sep}templates${path.sep}`));

  it.each(yamlFiles)('%s parses as YAML 1.1 with unique keys and no tabs', (file) => {
    const text = readFileSync(file, 'utf8');
    expect(text).not.toMatch(/\t/);
    const doc = parseDocument(text, { ...YAML_11, uniqueKeys: true });
    expect(doc.errors.map((e) => e.message)).toEqual([]);
    expect(doc.warnings.map((e) => e.message)).toEqual([]);
  });

  it('has a v2 Chart.yaml with a semantic version and an appVersion', () => {
    expect(chart.metadata).toMatchObject({ apiVersion: 'v2', name: 'custody', type: 'application' });
    expect(chart.metadata.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(chart.metadata.appVersion).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });

  it('has nothing in templates/ but YAML templates, helpers and NOTES.txt', () => {
    for (const name of chart.templates.keys())
      expect(name).toMatch(/^(_[a-z]+\.tpl|[a-z-]+\.yaml|NOTES\.txt)$/);
  });
});

describe('values read by the templates', () => {
  const refs = new Set<string>();
  for (const text of chart.templates.values())
    for (const m of text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) refs.add(m[1]!.slice(1));

  it('reads many values', () => {
    expect(refs.size).toBeGreaterThan(60);
  });

  it('reads only values the schema defines', () => {
    expect([...refs].filter((r) => !inSchema(r.split('.')))).toEqual([]);
  });

  it('reads every value values.yaml sets (no dead settings)', () => {
    const leaves: string[] = [];
    const collect = (v: unknown, at: string) => {
      if (isMap(v) && Object.keys(v).length)
        for (const [k, x] of Object.entries(v)) collect(x, at ? `${at}.${k}` : k);
      else leaves.push(at);
    };
    collect(chart.values, '');
    const read = [...refs];
    expect(leaves.filter((leaf) => !read.some((r) => leaf === r || leaf.startsWith(`${r}.`)))).toEqual([]);
  });
});
