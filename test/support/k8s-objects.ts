/**
 * Small readers over rendered Kubernetes objects for the chart tests: the pod templates of
 * workloads, label selection, and a walk over every value.
 */
import type { K8sObject } from './helm-render.js';

export interface PodTemplate {
  owner: K8sObject;
  labels: Record<string, string>;
  spec: any;
}

export const WORKLOADS = ['Deployment', 'Job'];

export function podTemplates(objs: K8sObject[]): PodTemplate[] {
  return objs
    .filter((o) => WORKLOADS.includes(o.kind))
    .map((o) => ({ owner: o, labels: o.spec.template.metadata.labels, spec: o.spec.template.spec }));
}

/** matchLabels semantics: every selector label is on the object. */
export const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

export const byKind = (objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind);

export function one(objs: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name ?? ''}, found ${found.length}`);
  return found[0]!;
}

/** Every leaf value with its path, to look for nulls, empty strings and the like. */
export function* leaves(v: unknown, at = ''): Generator<[string, unknown]> {
  if (Array.isArray(v)) for (const [i, x] of v.entries()) yield* leaves(x, `${at}[${i}]`);
  else if (typeof v === 'object' && v !== null)
    for (const [k, x] of Object.entries(v)) yield* leaves(x, at ? `${at}.${k}` : k);
  else yield [at, v];
}

export const envOf = (container: any): Record<string, string> =>
  Object.fromEntries((container.env ?? []).map((e: any) => [e.name, e.value]));
