import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'vitest';
import { api } from './client.js';
import type { Harness } from './harness.js';

/** Generous: the machine running these may have two busy cores. */
export const DEADLINE_MS = 60_000;

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Polls `check` until it returns something other than `undefined`/`false`. */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = DEADLINE_MS,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(everyMs);
  }
}

/** Every regular file below `dir`, relative to it; `[]` when `dir` does not exist. */
export async function filesUnder(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true, recursive: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export interface TargetFiles {
  /** Complete objects (`…/<recordingId>.esdk`). */
  complete: string[];
  /** Files inside `<final>.partial/` upload directories. */
  partial: string[];
  /** The `.partial` directories themselves (an empty one is a leftover too). */
  partialDirs: string[];
}

/** What the `local` target holds for a tenant (default path), straight from the disk. */
export async function targetFiles(h: Harness, tenantId: string): Promise<TargetFiles> {
  const root = path.join(h.dataDir, 'storage', tenantId, 'default');
  const files = await filesUnder(root);
  let dirs: string[] = [];
  try {
    dirs = (await readdir(root, { withFileTypes: true, recursive: true }))
      .filter((e) => e.isDirectory() && e.name.endsWith('.partial'))
      .map((e) => path.relative(root, path.join(e.parentPath, e.name)));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const inPartial = (f: string) => f.split(path.sep).some((s) => s.endsWith('.partial'));
  return {
    complete: files.filter((f) => !inPartial(f)),
    partial: files.filter(inPartial),
    partialDirs: dirs,
  };
}

/** The complete object's relative path for a recording, if any. */
export const objectOf = (t: TargetFiles, id: string) =>
  t.complete.filter((f) => path.basename(f) === `${id}.esdk`);

/** The recording's (encrypted, the default) metadata sidecar beside its object, if any. */
export const sidecarOf = (t: TargetFiles, id: string) =>
  t.complete.filter((f) => path.basename(f) === `${id}.meta.json.esdk`);

export const spoolFiles = (h: Harness) => filesUnder(path.join(h.dataDir, 'spool'));

export async function spoolFileOf(h: Harness, tenantId: string, id: string): Promise<boolean> {
  try {
    return (await stat(path.join(h.dataDir, 'spool', tenantId, `${id}.spool`))).isFile();
  } catch {
    return false;
  }
}

/** The row as PostgreSQL has it (status, spool_file, error_code, ...). */
export async function row(h: Harness, id: string): Promise<Record<string, any>> {
  const r = await h.ctx.db.query('SELECT * FROM recordings WHERE id = $1', [id]);
  if (!r.rows[0]) throw new Error(`no row for ${id}`);
  return r.rows[0];
}

/** The tenant's whole audit chain through the API (operator token). */
export async function auditEntries(h: Harness, tenantId: string): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | undefined;
  do {
    const q = `limit=1000${cursor ? `&cursor=${cursor}` : ''}`;
    const page = await api(h, 'GET', `/v1/tenants/${tenantId}/audit?${q}`);
    expect(page.status).toBe(200);
    out.push(...page.body.items);
    cursor = page.body.nextCursor;
  } while (cursor);
  return out;
}

export const countAudit = (entries: any[], action: string, id: string) =>
  entries.filter((e) => e.action === action && e.target === `recording:${id}`).length;

/** Waits until every recording has one of `statuses`; returns the views. */
export async function waitForAll(
  h: Harness,
  key: string,
  ids: string[],
  statuses: string[],
  timeoutMs = DEADLINE_MS,
): Promise<any[]> {
  let last: any[] = [];
  try {
    return await waitUntil(
      `${ids.length} recording(s) to be ${statuses.join('|')}`,
      async () => {
        last = await Promise.all(
          ids.map(async (id) => (await api(h, 'GET', `/v1/recordings/${id}`, { token: key })).body),
        );
        return last.every((v) => statuses.includes(v?.status)) && last;
      },
      timeoutMs,
      100,
    );
  } catch (err) {
    const states = last.map((v) => `${v?.id}=${v?.status}${v?.error ? `(${v.error.code})` : ''}`);
    throw new Error(`${(err as Error).message}; last seen: ${states.join(', ')}`);
  }
}

/**
 * The value of one series of the API's Prometheus `/metrics`: `name` with exactly `labels`,
 * in the order the service writes them. 0 when the series is absent (a counter not yet
 * incremented is not written).
 */
export async function metricValue(h: Harness, name: string, labels: Record<string, string>): Promise<number> {
  const res = await fetch(`${h.url}/metrics`);
  expect(res.status, 'GET /metrics').toBe(200);
  const series = `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}} `;
  const line = (await res.text()).split('\n').find((l) => l.startsWith(series));
  return line ? Number(line.slice(series.length).split(' ')[0]) : 0;
}

/** Plays a recording back through a fresh playback link; returns the bytes. */
export async function playBack(h: Harness, key: string, id: string): Promise<Buffer> {
  const link = await api(h, 'POST', `/v1/recordings/${id}/playback-link`, { token: key, json: {} });
  expect(link.status, `playback-link ${link.bytes}`).toBe(201);
  const res = await api(h, 'GET', link.body.url, { token: null });
  expect(res.status).toBe(200);
  return res.bytes;
}

/**
 * The end state every failure scenario must converge to: each recording `stored` with one
 * `recording.stored` audit entry, exactly one complete object and no upload leftovers in
 * the target, an empty spool, and playback returning the original bytes.
 */
export async function expectStoredExactlyOnce(
  h: Harness,
  key: string,
  tenantId: string,
  recordings: { id: string; audio: Buffer }[],
): Promise<void> {
  const ids = recordings.map((r) => r.id);
  await waitForAll(h, key, ids, ['stored']);
  // The spool copy is dropped (file, then the row's reference) right after marking stored:
  // allow that last step to land.
  await waitUntil(
    'the spool to be empty',
    async () =>
      (await spoolFiles(h)).length === 0 &&
      (await Promise.all(ids.map((id) => row(h, id)))).every((r) => r.spool_file === null),
  );
  const audit = await auditEntries(h, tenantId);
  const target = await targetFiles(h, tenantId);
  for (const { id, audio } of recordings) {
    expect(countAudit(audit, 'recording.stored', id), `recording.stored entries for ${id}`).toBe(1);
    expect(countAudit(audit, 'recording.failed', id)).toBe(0);
    expect(objectOf(target, id), `objects of ${id}`).toHaveLength(1);
    // Its metadata sidecar, written before the row said stored, beside it.
    expect(sidecarOf(target, id), `sidecar of ${id}`).toEqual([
      objectOf(target, id)[0]!.replace(/\.esdk$/, '.meta.json.esdk'),
    ]);
    const r = await row(h, id);
    expect(r.spool_file).toBeNull();
    const played = await playBack(h, key, id);
    expect(played.length).toBe(audio.length);
    expect(sha256(played)).toBe(sha256(audio));
  }
  // An object and a sidecar each, nothing else.
  expect(target.complete, 'no stray objects').toHaveLength(2 * recordings.length);
  expect(target.partial, 'no partial uploads left').toEqual([]);
  expect(target.partialDirs, 'no .partial directories left').toEqual([]);
}
