import type { KeyJobKind } from '../../db/key-jobs.js';
import { objectKeyFor } from '../../storage/object-key.js';

/**
 * Where a job writes a recording's new object: the recording's own Hive path with the
 * target version in the name, `…/<id>.v<version>.esdk` (rewrap, migrate), and for a
 * re-encryption also the job, `…/<id>.v<version>.<jobId>.esdk`, since it may target the
 * version the recording is already on.
 *
 * Never the live object's key: rewrap and migrate only take recordings that are not on
 * the target version (and a recording's keys always name the version they were written
 * for, or are the transfer's plain `<id>.esdk`); a re-encryption job takes each recording
 * once. Deterministic, so a re-run after a crash overwrites its own earlier attempt
 * instead of leaving a second copy.
 */
export function relocatedObjectKey(
  r: { id: string; created_at: Date },
  job: { id: string; kind: KeyJobKind; target_version: number },
): string {
  const stem = objectKeyFor(r.id, r.created_at).replace(/\.esdk$/, '');
  const suffix = job.kind === 'reencrypt' ? `.${job.id}` : '';
  return `${stem}.v${job.target_version}${suffix}.esdk`;
}
