import path from 'node:path';
import { expect } from 'vitest';
import { api } from './client.js';
import type { Harness } from './harness.js';
import { DEADLINE_MS, filesUnder, waitUntil } from './observe.js';

/** Starts a key job through the API (operator token); expects 202. */
export async function startKeyJob(h: Harness, tenantId: string, body: Record<string, unknown>): Promise<any> {
  const res = await api(h, 'POST', `/v1/tenants/${tenantId}/key-jobs`, { json: body });
  expect(res.status, res.bytes.toString()).toBe(202);
  return res.body;
}

export async function getKeyJob(h: Harness, tenantId: string, id: string): Promise<any> {
  const res = await api(h, 'GET', `/v1/tenants/${tenantId}/key-jobs/${id}`);
  expect(res.status, res.bytes.toString()).toBe(200);
  return res.body;
}

/** Polls the job's progress until it is no longer running; returns the last view. */
export async function waitForKeyJob(
  h: Harness,
  tenantId: string,
  id: string,
  timeoutMs = DEADLINE_MS,
): Promise<any> {
  return waitUntil(
    `key job ${id} to end`,
    async () => {
      const job = await getKeyJob(h, tenantId, id);
      return job.status !== 'running' && job;
    },
    timeoutMs,
    100,
  );
}

/**
 * Every complete object of a tenant under the `local` provider, whatever its path
 * (storage version location): `<path>/<year=…/…>/<file>` relative to the tenant's root.
 */
export async function localObjects(h: Harness, tenantId: string): Promise<string[]> {
  const files = await filesUnder(path.join(h.dataDir, 'storage', tenantId));
  return files.filter((f) => !f.split(path.sep).some((s) => s.endsWith('.partial')));
}

const isSidecar = (f: string) => f.endsWith('.meta.json.esdk') || f.endsWith('.meta.json');

/** The tenant's local audio objects that belong to recording `id` (`<id>.esdk`, `<id>.v<n>….esdk`). */
export const objectsOf = (objects: string[], id: string) =>
  objects.filter((f) => {
    const base = path.basename(f);
    return (
      !isSidecar(base) && (base === `${id}.esdk` || (base.startsWith(`${id}.`) && base.endsWith('.esdk')))
    );
  });

/** The metadata sidecars of recording `id` (`<audio name>.meta.json.esdk` or `.meta.json`). */
export const sidecarsOf = (objects: string[], id: string) =>
  objects.filter((f) => isSidecar(f) && path.basename(f).startsWith(`${id}.`));

/** The sidecar name beside an audio object (encrypted, the default mode). */
export const sidecarBeside = (audio: string) => audio.replace(/\.esdk$/, '.meta.json.esdk');
