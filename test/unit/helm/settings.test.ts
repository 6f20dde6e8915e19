import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { QUEUES } from '../../../src/queue/names.js';
import { REDIS_URL } from '../../support/harness.js';
import { type K8sObject, objects, renderChart, type Values } from '../../support/helm-render.js';
import { chart, REQUIRED, render, SCENARIOS } from '../../support/helm-scenarios.js';
import { byKind, envOf, one, podTemplates } from '../../support/k8s-objects.js';

/*
 * What each setting of the chart renders, checked on objects rendered without helm (no
 * helm binary or cluster here; see rendered.test.ts): kinds per values, the spool modes,
 * KEDA's trigger against a real BullMQ queue, identities, and the PrometheusRule against
 * the alerts proposed in docs/runbooks.
 */

const kinds = (objs: K8sObject[]) => objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();

describe('what each setting renders', () => {
  it('defaults: separate API and worker Deployments on one ReadWriteMany spool, HPA, PDBs, NetworkPolicies', () => {
    const objs = objects(render(SCENARIOS.defaults!));
    expect(kinds(objs)).toEqual(
      [
        'ConfigMap/custody',
        'Deployment/custody-api',
        'Deployment/custody-worker',
        'HorizontalPodAutoscaler/custody-api',
        'Job/custody-migrate',
        'NetworkPolicy/custody',
        'NetworkPolicy/custody-api',
        'NetworkPolicy/custody-worker',
        'PersistentVolumeClaim/custody-spool',
        'PodDisruptionBudget/custody-api',
        'PodDisruptionBudget/custody-worker',
        'Secret/custody',
        'Secret/custody-migrate',
        'Service/custody',
        'ServiceAccount/custody',
      ].sort(),
    );
    const pvc = one(objs, 'PersistentVolumeClaim');
    expect(pvc.spec.accessModes).toEqual(['ReadWriteMany']);
    expect(pvc.metadata.annotations!['helm.sh/resource-policy']).toBe('keep');
    expect(one(objs, 'Secret', 'custody').metadata.annotations!['helm.sh/resource-policy']).toBe('keep');
    expect(one(objs, 'ConfigMap').data).toMatchObject({
      CUSTODY_LOCAL_PROVIDER: 'off',
      NODE_ENV: 'production',
    });
    for (const name of ['custody-api', 'custody-worker']) {
      const spec = one(objs, 'Deployment', name).spec.template.spec;
      expect(spec.volumes.find((v: any) => v.name === 'data').persistentVolumeClaim.claimName).toBe(
        'custody-spool',
      );
      expect(spec.containers[0].volumeMounts).toContainEqual({ name: 'data', mountPath: '/data' });
      expect(envOf(spec.containers[0]).CUSTODY_SPOOL_DIR).toBe('/data/spool');
    }
  });

  it('colocated: one `custody start` pod, Recreate, on a ReadWriteOnce spool; nothing that scales it', () => {
    const objs = objects(render(SCENARIOS['examples/colocated.yaml']!));
    const deployments = byKind(objs, 'Deployment');
    expect(deployments.map((d) => d.metadata.name)).toEqual(['custody-server']);
    expect(deployments[0]!.spec).toMatchObject({ replicas: 1, strategy: { type: 'Recreate' } });
    expect(one(objs, 'PersistentVolumeClaim').spec.accessModes).toEqual(['ReadWriteOnce']);
    for (const kind of ['HorizontalPodAutoscaler', 'ScaledObject', 'PodDisruptionBudget', 'Secret'])
      expect(byKind(objs, kind)).toEqual([]);
    // KEDA left on from a shared-pvc values file scales nothing here.
    const kedaOn = { spool: { mode: 'colocated' }, worker: { keda: { enabled: true } } };
    expect(byKind(objects(render({ overlays: [REQUIRED, kedaOn] })), 'ScaledObject')).toEqual([]);
  });

  it('KEDA: a ScaledObject on the transfer queue wait list, only when enabled', () => {
    expect(byKind(objects(render(SCENARIOS.defaults!)), 'ScaledObject')).toEqual([]);
    const objs = objects(render(SCENARIOS['examples/aws-irsa.yaml']!));
    const so = one(objs, 'ScaledObject');
    expect(so.apiVersion).toBe('keda.sh/v1alpha1');
    expect(so.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    expect(so.spec.triggers).toEqual([
      {
        type: 'redis',
        metadata: {
          address: 'master.custody.abc123.euw1.cache.amazonaws.com:6379',
          listName: '{custody}:transfer:wait',
          listLength: '50',
          databaseIndex: '0',
          enableTLS: 'true',
        },
        authenticationRef: { name: 'custody-worker' },
      },
    ]);
    expect(one(objs, 'TriggerAuthentication').spec.secretTargetRef).toEqual([
      { parameter: 'password', name: 'custody-secrets', key: 'REDIS_PASSWORD' },
    ]);
  });

  it('existingSecret: no Secret at all, every pod reads the named one', () => {
    const objs = objects(render(SCENARIOS['examples/aws-irsa.yaml']!));
    expect(byKind(objs, 'Secret')).toEqual([]);
    for (const p of podTemplates(objs))
      expect(p.spec.volumes.find((v: any) => v.name === 'secrets').secret.secretName).toBe('custody-secrets');
  });

  it('cloud identities: IRSA and Azure workload identity on the ServiceAccount, the Azure label on its pods', () => {
    const aws = objects(render(SCENARIOS['examples/aws-irsa.yaml']!));
    expect(one(aws, 'ServiceAccount').metadata.annotations).toEqual({
      'eks.amazonaws.com/role-arn': 'arn:aws:iam::111122223333:role/custody-connector',
    });
    const azure = objects(render(SCENARIOS['examples/azure-workload-identity.yaml']!));
    expect(one(azure, 'ServiceAccount').metadata.annotations).toEqual({
      'azure.workload.identity/client-id': '00000000-0000-0000-0000-000000000001',
      'azure.workload.identity/tenant-id': '00000000-0000-0000-0000-000000000002',
    });
    for (const d of byKind(azure, 'Deployment'))
      expect(d.spec.template.metadata.labels['azure.workload.identity/use']).toBe('true');
    expect(one(azure, 'Job').spec.template.metadata.labels['azure.workload.identity/use']).toBeUndefined();
  });

  it('NetworkPolicy: a narrowed API port still admits Prometheus, and only it besides apiFrom', () => {
    const objs = objects(render(SCENARIOS['examples/azure-workload-identity.yaml']!));
    const ingress = one(objs, 'NetworkPolicy', 'custody-api').spec.ingress;
    const peers = ingress.flatMap((rule: any) => rule.from);
    expect(ingress.every((rule: any) => rule.from?.length)).toBe(true);
    expect(
      peers.map((p: any) => p.namespaceSelector.matchLabels['kubernetes.io/metadata.name']).sort(),
    ).toEqual(['ingress-nginx', 'monitoring']);
    const open = one(objects(render(SCENARIOS.defaults!)), 'NetworkPolicy', 'custody-api').spec.ingress;
    expect(open).toEqual([{ ports: [{ port: 'http', protocol: 'TCP' }] }]);
  });

  it('rolls the pods when the configuration changes', () => {
    const checksum = (overlay: Values) =>
      one(objects(render({ overlays: [REQUIRED, overlay] })), 'Deployment', 'custody-worker').spec.template
        .metadata.annotations['checksum/config'];
    expect(checksum({ config: { LOG_LEVEL: 'debug' } })).not.toBe(checksum({}));
  });

  it('refuses to render without the required values, naming each', () => {
    expect(() => renderChart(chart)).toThrow(
      /missing values: config\.CUSTODY_PUBLIC_URL .*secrets\.values\.databaseUrl .*secrets\.values\.redisUrl .*secrets\.values\.adminToken .*secrets\.values\.linkSigningKeys .*secrets\.values\.secretsKey/,
    );
    expect(() => render({ overlays: [REQUIRED, { worker: { keda: { enabled: true } } }] })).toThrow(
      /worker\.keda\.redis\.address/,
    );
    expect(() => render({ overlays: [REQUIRED, { directIngest: { enabled: true } }] })).toThrow(
      /directIngest\.existingClaim.*|secrets\.values\.inboxHmacKey/,
    );
    expect(() => render({ overlays: [REQUIRED, { serviceAccount: { create: false } }] })).toThrow(
      /serviceAccount\.name/,
    );
    expect(() => render({ overlays: [REQUIRED, { api: { replicas: 0 } }] })).toThrow(
      /schema.*\/api\/replicas/,
    );
  });
});

describe('the KEDA trigger against BullMQ', () => {
  it('reads the list that holds waiting transfers', async () => {
    const prefix = `{helm-${randomBytes(6).toString('hex')}}`;
    const overlay = {
      config: { CUSTODY_QUEUE_PREFIX: prefix },
      worker: { keda: { enabled: true, redis: { address: 'redis.example.com:6379' } } },
    };
    const so = one(objects(render({ overlays: [REQUIRED, overlay] })), 'ScaledObject');
    const listName = so.spec.triggers[0].metadata.listName as string;
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUES.transfer, { connection: redis, prefix });
    try {
      // No worker runs: the jobs wait, as they would with every worker busy.
      await queue.add('transfer', { v: 1 }, { jobId: 'rec-1' });
      await queue.add('transfer', { v: 1 }, { jobId: 'rec-2' });
      expect(await queue.getWaitingCount()).toBe(2);
      expect(await redis.type(listName)).toBe('list');
      expect(await redis.llen(listName)).toBe(2);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      redis.disconnect();
    }
  });
});

describe('the PrometheusRule', () => {
  /** The rules proposed in the runbooks, by alert name (```yaml blocks of each page). */
  function runbookRules(): Map<string, { page: string; rule: Values }> {
    const out = new Map<string, { page: string; rule: Values }>();
    for (const page of readdirSync('docs/runbooks').filter((f) => f.endsWith('.md') && f !== 'README.md')) {
      const text = readFileSync(path.join('docs/runbooks', page), 'utf8');
      for (const m of text.matchAll(/```yaml\n([\s\S]*?)```/g))
        for (const rule of parse(m[1]!) as Values[])
          if (rule.alert) out.set(String(rule.alert), { page, rule });
    }
    return out;
  }
  const normalise = (rule: Values) => ({ ...rule, expr: String(rule.expr).trim().replace(/\s+/g, ' ') });

  it('carries exactly the alerts of docs/runbooks, as written there', () => {
    const proposed = runbookRules();
    expect(proposed.size).toBeGreaterThan(5);
    const objs = objects(render({ overlays: [REQUIRED, { prometheusRule: { enabled: true } }] }));
    const rules = one(objs, 'PrometheusRule').spec.groups.flatMap((g: any) => g.rules) as Values[];
    expect(rules.map((r) => r.alert).sort()).toEqual([...proposed.keys()].sort());
    // With the default base URL (docs/runbooks) the rules equal the pages' proposals.
    for (const rule of rules)
      expect(normalise(rule)).toEqual(normalise(proposed.get(String(rule.alert))!.rule));
  });

  it('links each alert to its page under runbookBaseUrl, keeping Prometheus templates for Prometheus', () => {
    const objs = objects(render(SCENARIOS['examples/aws-irsa.yaml']!));
    const rules = one(objs, 'PrometheusRule').spec.groups.flatMap((g: any) => g.rules) as any[];
    const proposed = runbookRules();
    for (const rule of rules)
      expect(rule.annotations.runbook_url).toBe(
        `https://git.example.com/custody/blob/main/docs/runbooks/${proposed.get(rule.alert)!.page}`,
      );
    expect(rules.find((r) => r.alert === 'CustodyKeyUnhealthy').annotations.summary).toContain(
      '{{ $labels.tenant }}',
    );
  });
});
