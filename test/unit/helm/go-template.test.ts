import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { goFloat } from '../../support/go-template.js';
import { type Chart, renderChart, YAML_11 } from '../../support/helm-render.js';

/*
 * The chart tests trust test/support/helm-render.ts in place of helm (not available here).
 * These pin it to what Go's text/template and Sprig do on the points the chart relies on;
 * the expected outputs are Go's and Helm's documented behaviour.
 */

/** Renders one template against values parsed as Helm parses them (YAML 1.1). */
function run(template: string, valuesYaml = '{}', helpers = ''): string {
  const chart: Chart = {
    dir: '',
    metadata: { apiVersion: 'v2', name: 'demo', version: '1.2.3', appVersion: '4.5.6' },
    values: parse(valuesYaml, YAML_11),
    schema: { type: 'object' },
    templates: new Map([
      ['_helpers.tpl', helpers],
      ['t.yaml', template],
    ]),
  };
  return renderChart(chart, { releaseName: 'rel' }).files.get('t.yaml') ?? '';
}

describe('the Go template subset', () => {
  it('trims whitespace at {{- and -}} and drops comments', () => {
    expect(run('a  \n  {{- "b" -}}  \n  c')).toBe('abc');
    expect(run('a {{/* note */}}b {{- /* note */ -}} c')).toBe('a bc');
  });

  it('prints YAML numbers as Go prints float64, and ints from int64 in full', () => {
    // (Not `n:` as a key: YAML 1.1 reads a bare n as false, and so does Helm.)
    expect(
      run('{{ .Values.port }} {{ .Values.big }} {{ int64 .Values.big }}', 'port: 8080\nbig: 1000000'),
    ).toBe('8080 1e+06 1000000');
    expect([goFloat(21474836480), goFloat(0.5), goFloat(0.00001), goFloat(123456)]).toEqual([
      '2.147483648e+10',
      '0.5',
      '1e-05',
      '123456',
    ]);
  });

  it('refuses to compare an int with a float64, as Go does', () => {
    expect(() => run('{{ if eq .Values.count 1 }}x{{ end }}', 'count: 1')).toThrow(/incompatible types/);
    expect(run('{{ if eq (int .Values.count) 1 }}x{{ end }}', 'count: 1')).toBe('x');
  });

  it('prints a missing value as <no value> and fails on a field of it', () => {
    expect(run('[{{ .Values.absent }}]')).toBe('[<no value>]');
    expect(() => run('{{ .Values.absent.deeper }}')).toThrow(/nil pointer evaluating interface \{\}\.deeper/);
  });

  it('ranges over lists and maps (keys sorted), with else and scoped variables', () => {
    const values = 'l: [a, b]\nm: {z: 1, a: 2}\ne: []';
    expect(run('{{ range $i, $v := .Values.l }}{{ $i }}={{ $v }};{{ end }}', values)).toBe('0=a;1=b;');
    expect(run('{{ range $k, $v := .Values.m }}{{ $k }}{{ end }}', values)).toBe('az');
    expect(run('{{ range .Values.e }}x{{ else }}none{{ end }}', values)).toBe('none');
    expect(run('{{ $x := 1 }}{{ range .Values.l }}{{ $x = . }}{{ end }}{{ $x }}', values)).toBe('b');
    expect(run('{{ range .Values.l }}{{ $.Release.Name }}{{ end }}', values)).toBe('relrel');
  });

  it('chains else if, and with rebinds dot', () => {
    const t = '{{ if eq .Values.s "a" }}A{{ else if eq .Values.s "b" }}B{{ else }}C{{ end }}';
    expect(['a', 'b', 'c'].map((s) => run(t, `s: ${s}`))).toEqual(['A', 'B', 'C']);
    expect(run('{{ with .Values.o }}{{ .k }}{{ else }}none{{ end }}', 'o: {k: v}')).toBe('v');
  });

  it('includes defines with their own dot and $, through pipelines', () => {
    const helpers = '{{- define "x" -}}[{{ .a }}|{{ $.a }}]{{- end -}}';
    expect(run('{{ include "x" (dict "a" "1") | quote }}', '{}', helpers)).toBe('"[1|1]"');
  });

  it('short-circuits and/or, returning the deciding value', () => {
    expect(run('{{ and .Values.a .Values.a.b }}', 'a: null')).toBe('<no value>');
    expect(run('{{ or .Values.x "fallback" }}', 'x: ""')).toBe('fallback');
  });

  it('has Sprig default treat false and 0 as empty, as Sprig does', () => {
    expect(run('{{ .Values.b | default true }} {{ .Values.z | default 5 }}', 'b: false\nz: 0')).toBe(
      'true 5',
    );
  });

  it('renders toYaml with sorted keys, YAML 1.1 quoting, no trailing newline', () => {
    expect(run('{{ toYaml .Values.m }}', 'm: {z: "off", a: [1, 2]}')).toBe('a:\n- 1\n- 2\nz: "off"');
    expect(run('x:{{ toYaml .Values.m | nindent 2 }}', 'm: {k: v}')).toBe('x:\n  k: v');
  });

  it('refuses what it does not implement instead of guessing', () => {
    expect(() => run('{{ now }}')).toThrow(/function "now" is not in this renderer/);
    expect(() => run('{{ block "b" . }}{{ end }}')).toThrow(/not supported/);
    expect(() => run('{{ (dict "a" 1).a }}')).toThrow(/not supported/);
    expect(() => run('{{ "unclosed }')).toThrow(/unclosed/);
  });
});
