import { describe, expect, it } from 'vitest';
import { secretVariables } from '../../../src/config/env-schema.js';
import { objects } from '../../support/helm-render.js';
import { chart, render, SCENARIOS } from '../../support/helm-scenarios.js';
import { byKind, envOf, leaves, one, podTemplates, selects } from '../../support/k8s-objects.js';

/*
 * The chart rendered and read back as Kubernetes objects. There is no helm binary and no
 * cluster here: `helm lint`, `helm template` and `helm install --dry-run` were never run,
 * and nothing was checked against the API server's OpenAPI schemas. The rendering is done
 * by test/support/helm-render.ts (the Go template subset the chart uses, with Go's value
 * semantics); what is checked is the objects' wiring: kinds per values, selectors, names,
 * ports, probes, security, secrets, hooks.
 */

const APP_VERSION = String(chart.metadata.appVersion);

describe.each(Object.entries(SCENARIOS))('rendered with %s', (_name, scenario) => {
  const rendered = render(scenario);
  const objs = objects(rendered);
  const values = rendered.values as any;
  const release = scenario.release ?? 'custody';
  const pods = podTemplates(objs);
  const containers = pods.flatMap((p) => p.spec.containers.map((c: any) => ({ pod: p, c })));
  const apiPod = pods.find((p) => ['api', 'server'].includes(p.labels['app.kubernetes.io/component']!))!;

  it('prints no missing value and no empty or null field', () => {
    for (const text of [...rendered.files.values(), rendered.notes]) expect(text).not.toContain('<no value>');
    const bad = objs.flatMap((o) =>
      [...leaves(o)]
        .filter(([, v]) => v === null || v === '')
        .map(([at]) => `${o.kind}/${o.metadata.name} ${at}`),
    );
    expect(bad).toEqual([]);
  });

  it('names objects as DNS labels and labels them all alike', () => {
    for (const o of objs) {
      expect(o.metadata.name, o.kind).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
      expect(o.metadata.labels, `${o.kind}/${o.metadata.name}`).toMatchObject({
        'app.kubernetes.io/name': 'custody',
        'app.kubernetes.io/instance': release,
        'app.kubernetes.io/version': APP_VERSION,
        'app.kubernetes.io/managed-by': 'Helm',
        'helm.sh/chart': `custody-${chart.metadata.version}`,
      });
    }
    const names = objs.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(names).size).toBe(names.length);
  });

  it('gives pods their owner labels and selectors that never hold the version', () => {
    for (const p of pods) {
      const component = p.owner.metadata.labels!['app.kubernetes.io/component'];
      expect(p.labels).toMatchObject({
        ...p.owner.metadata.labels,
        'app.kubernetes.io/component': component,
      });
      if (p.owner.kind === 'Deployment')
        expect(selects(p.owner.spec.selector.matchLabels, p.labels)).toBe(true);
    }
    const selectors = objs.flatMap((o) => [
      o.spec?.selector?.matchLabels ?? o.spec?.selector,
      o.spec?.podSelector?.matchLabels,
    ]);
    for (const s of selectors.filter(Boolean)) {
      expect(Object.keys(s)).not.toContain('app.kubernetes.io/version');
      expect(Object.keys(s)).not.toContain('helm.sh/chart');
    }
  });

  it('runs every container as the non-root image user on a read-only root filesystem', () => {
    expect(containers.length).toBeGreaterThanOrEqual(2);
    for (const p of pods) {
      expect(p.spec.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 10001,
        runAsGroup: 10001,
        fsGroup: 10001,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(p.spec.automountServiceAccountToken).toBe(false);
      expect(p.spec.enableServiceLinks).toBe(false);
      const tmp = p.spec.volumes.find((v: any) => v.name === 'tmp');
      expect(tmp.emptyDir).toBeDefined();
    }
    for (const { c } of containers) {
      expect(c.securityContext).toMatchObject({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        privileged: false,
        capabilities: { drop: ['ALL'] },
      });
      expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
      expect(c.resources.requests.memory).toBeDefined();
      expect(c.resources.limits.memory).toBeDefined();
      for (const e of c.env) if ('value' in e) expect(typeof e.value, e.name).toBe('string');
    }
  });

  it('runs API, workers and migrations from one image', () => {
    const { repository, tag, digest } = values.image;
    const image = digest ? `${repository}@${digest}` : `${repository}:${tag || APP_VERSION}`;
    expect(new Set(containers.map(({ c }) => c.image))).toEqual(new Set([image]));
    const roles = containers.map(({ c }) => c.args[0]).sort();
    expect(roles).toEqual(
      values.spool.mode === 'colocated' ? ['migrate', 'start'] : ['api', 'migrate', 'worker'],
    );
  });

  it('hands secrets over as files, each role only its own', () => {
    const secretName = values.secrets.existingSecret || undefined;
    for (const { pod, c } of containers) {
      const role = c.args[0];
      const env = envOf(c);
      for (const name of secretVariables) expect(env[name], `${role}: ${name} in plain env`).toBeUndefined();
      const files = Object.keys(env)
        .filter((n) => n.endsWith('_FILE'))
        .map((n) => n.slice(0, -5));
      const expected = ['DATABASE_URL'];
      if (role !== 'migrate') expected.push('REDIS_URL', 'CUSTODY_LINK_SIGNING_KEYS', 'CUSTODY_SECRETS_KEY');
      if (role === 'api' || role === 'start') expected.push('CUSTODY_ADMIN_TOKEN');
      if (values.directIngest.enabled && (role === 'worker' || role === 'start'))
        expected.push('CUSTODY_INBOX_HMAC_KEY');
      expect(files.sort(), role).toEqual(expected.sort());

      const volume = pod.spec.volumes.find((v: any) => v.name === 'secrets');
      expect(volume.secret.defaultMode).toBe(0o440);
      expect(c.volumeMounts).toContainEqual({
        name: 'secrets',
        mountPath: '/var/run/secrets/custody',
        readOnly: true,
      });
      for (const f of files) {
        expect(env[`${f}_FILE`]).toBe(`/var/run/secrets/custody/${f}`);
        expect(volume.secret.items.map((i: any) => i.path)).toContain(f);
      }
      if (secretName) expect(volume.secret.secretName).toBe(secretName);
      else {
        // The chart's own Secret (or, for the pre-install hook, its hook-only copy) has every key.
        const secret = one(objs, 'Secret', volume.secret.secretName);
        for (const item of volume.secret.items)
          expect(Buffer.from(secret.data[item.key], 'base64').toString().length).toBeGreaterThan(0);
      }
    }
    if (secretName) expect(byKind(objs, 'Secret')).toEqual([]);
    const config = one(objs, 'ConfigMap');
    for (const name of secretVariables) expect(config.data[name]).toBeUndefined();
  });

  it('probes the API on its port and paths, and the workers on their metrics port', () => {
    for (const { c } of containers) {
      const role = c.args[0];
      if (role === 'migrate') continue;
      const port = (name: string) => c.ports.find((p: any) => p.name === name).containerPort;
      const get = (probe: string) => c[probe].httpGet;
      if (role === 'worker') {
        expect(port('metrics')).toBe(Number(envOf(c).CUSTODY_WORKER_METRICS_PORT));
        for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe'])
          expect(get(probe)).toEqual({ path: '/healthz', port: 'metrics' });
      } else {
        expect(port('http')).toBe(Number(envOf(c).PORT));
        expect(get('startupProbe')).toEqual({ path: '/healthz', port: 'http' });
        expect(get('livenessProbe')).toEqual({ path: '/healthz', port: 'http' });
        expect(get('readinessProbe')).toEqual({ path: '/readyz', port: 'http' });
      }
    }
  });

  it('points the Service at the API pods only, on their http port', () => {
    const service = one(objs, 'Service');
    expect(selects(service.spec.selector, apiPod.labels)).toBe(true);
    for (const p of pods.filter((x) => x !== apiPod))
      expect(selects(service.spec.selector, p.labels)).toBe(false);
    expect(service.spec.ports).toEqual([
      { name: 'http', port: values.service.port, targetPort: 'http', protocol: 'TCP' },
    ]);
    expect(apiPod.spec.containers[0].ports.map((p: any) => p.name)).toContain('http');
  });

  it('runs migrations in a pre-install/pre-upgrade hook Job that is replaced on the next run', () => {
    const job = one(objs, 'Job');
    expect(job.metadata.annotations).toMatchObject({
      'helm.sh/hook': 'pre-install,pre-upgrade',
      'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded',
    });
    expect(job.spec.template.spec.restartPolicy).toBe('Never');
    expect(job.spec.template.spec.containers.map((c: any) => c.args)).toEqual([['migrate']]);
    // The hook can't use the release's own Secret (not created yet on install): its copy is
    // a hook too, created first.
    const secretName = job.spec.template.spec.volumes.find((v: any) => v.name === 'secrets').secret
      .secretName;
    if (!values.secrets.existingSecret) {
      const hookSecret = one(objs, 'Secret', secretName);
      expect(hookSecret.metadata.annotations!['helm.sh/hook']).toBe('pre-install,pre-upgrade');
      expect(Number(hookSecret.metadata.annotations!['helm.sh/hook-weight'])).toBeLessThan(
        Number(job.metadata.annotations!['helm.sh/hook-weight']),
      );
    }
  });

  it('wires every reference to an object that exists', () => {
    const names = (kind: string) => byKind(objs, kind).map((o) => o.metadata.name);
    const claims = [
      ...names('PersistentVolumeClaim'),
      values.spool.existingClaim,
      values.directIngest.existingClaim,
    ];
    for (const p of pods) {
      for (const v of p.spec.volumes)
        if (v.persistentVolumeClaim) expect(claims).toContain(v.persistentVolumeClaim.claimName);
      if (p.owner.kind === 'Deployment') {
        expect(names('ServiceAccount')).toContain(p.spec.serviceAccountName);
        for (const c of p.spec.containers)
          expect(names('ConfigMap')).toContain(c.envFrom[0].configMapRef.name);
        expect(p.spec.volumes.find((v: any) => v.name === 'data').persistentVolumeClaim).toBeDefined();
      }
    }
    for (const scaler of [...byKind(objs, 'HorizontalPodAutoscaler'), ...byKind(objs, 'ScaledObject')]) {
      const target = one(objs, 'Deployment', scaler.spec.scaleTargetRef.name);
      expect(target.spec.replicas, `${target.metadata.name} is scaled by ${scaler.kind}`).toBeUndefined();
    }
    const scaled = [...byKind(objs, 'HorizontalPodAutoscaler'), ...byKind(objs, 'ScaledObject')].map(
      (s) => s.spec.scaleTargetRef.name,
    );
    for (const d of byKind(objs, 'Deployment'))
      if (!scaled.includes(d.metadata.name)) expect(d.spec.replicas).toBeGreaterThanOrEqual(1);
    for (const pdb of byKind(objs, 'PodDisruptionBudget'))
      expect(pods.filter((p) => selects(pdb.spec.selector.matchLabels, p.labels)).length).toBe(1);
    for (const np of byKind(objs, 'NetworkPolicy')) {
      const selected = pods.filter((p) => selects(np.spec.podSelector.matchLabels, p.labels));
      expect(selected.length, np.metadata.name).toBeGreaterThan(0);
      const ports = selected.flatMap((p) =>
        p.spec.containers.flatMap((c: any) => c.ports?.map((x: any) => x.name)),
      );
      for (const rule of np.spec.ingress ?? [])
        for (const port of rule.ports) expect(ports).toContain(port.port);
    }
    for (const ingress of byKind(objs, 'Ingress'))
      for (const rule of ingress.spec.rules)
        for (const p of rule.http.paths) {
          expect(names('Service')).toContain(p.backend.service.name);
          expect(p.backend.service.port).toEqual({ name: 'http' });
          // /metrics, /healthz, /readyz (and /admin) stay inside the cluster.
          expect(['/', '/metrics', '/admin']).not.toContain(p.path);
        }
  });
});
