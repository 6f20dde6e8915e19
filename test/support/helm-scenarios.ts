/**
 * The value sets the chart tests render: values.yaml plus what an install must set, each
 * example file, and variants that switch on every optional part.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { loadChart, readYaml, renderChart, type Values } from './helm-render.js';

export const CHART_DIR = 'helm/custody';
export const chart = loadChart(CHART_DIR);
const example = (name: string) => readYaml(path.join(CHART_DIR, 'examples', name)) as Values;
const key32 = () => randomBytes(32).toString('base64');

/** What an install must set besides values.yaml (the chart refuses to render without). */
export const REQUIRED: Values = {
  config: { CUSTODY_PUBLIC_URL: 'https://custody.example.com' },
  secrets: {
    values: {
      databaseUrl: 'postgres://custody:pw@db.example.com:5432/custody',
      redisUrl: 'rediss://:pw@redis.example.com:6380',
      adminToken: 'operator-token-0123456789',
      linkSigningKeys: `k1:${key32()}`,
      secretsKey: key32(),
    },
  },
};

export interface Scenario {
  overlays: Values[];
  release?: string;
}
export const SCENARIOS: Record<string, Scenario> = {
  defaults: { overlays: [REQUIRED] },
  'examples/aws-irsa.yaml': { overlays: [example('aws-irsa.yaml')] },
  'examples/azure-workload-identity.yaml': { overlays: [example('azure-workload-identity.yaml')] },
  'examples/colocated.yaml': { overlays: [example('colocated.yaml')] },
  'KEDA and a chart-made Secret': {
    overlays: [
      REQUIRED,
      { worker: { keda: { enabled: true, redis: { address: 'redis.example.com:6380' } } } },
    ],
  },
  'direct ingest': {
    overlays: [
      REQUIRED,
      {
        directIngest: { enabled: true, existingClaim: 'recorder-inbox' },
        secrets: { values: { inboxHmacKey: key32() } },
      },
    ],
  },
  'every optional object, fixed replicas': {
    overlays: [
      REQUIRED,
      {
        api: { autoscaling: { enabled: false } },
        ingress: { enabled: true },
        prometheusRule: { enabled: true },
        podMonitor: { enabled: true },
        networkPolicy: { egress: { restrict: false } },
      },
    ],
  },
  'a 53-character release name': {
    overlays: [REQUIRED],
    release: 'payments-eu-west-1-production-call-recordings-abcdefg',
  },
};

export const render = (s: Scenario) =>
  renderChart(chart, { overlays: s.overlays, releaseName: s.release ?? 'custody' });
