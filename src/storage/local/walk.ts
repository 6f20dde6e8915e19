import type { BigIntStats, Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ObjectInfo } from '../storage-target.js';
import { keySegmentProblem } from '../object-key.js';
import { hasCode } from './fs-errors.js';
import { PARTIAL_SUFFIX } from './paths.js';

/**
 * Version of a stored file: inode, mtime (ns) and size. Consecutive puts of one key
 * always differ: the new file is created while the old one still exists, so it gets
 * another inode, and it is renamed (never rewritten) into place.
 */
export function objectInfo(key: string, st: BigIntStats): ObjectInfo {
  return {
    key,
    size: Number(st.size),
    version: `${st.ino.toString(36)}-${st.mtimeNs.toString(36)}-${st.size.toString(36)}`,
  };
}

interface Entry {
  name: string;
  isDir: boolean;
  order: Buffer;
}

/**
 * Yields the complete objects below `dir` (whose key prefix is `dirKey`, `''` or ending
 * in `/`) whose keys start with `prefix`, in the byte order of their UTF-8 keys, as S3
 * and Azure list them. Sorting a directory as `name/` makes `a-b` come before `a/x`
 * (`-` < `/`), which a plain per-directory sort would get wrong.
 * Uploads in progress (`*.partial`), dot-files, symlinks and names that are not valid
 * key segments are skipped: they are never objects.
 */
export async function* walkObjects(
  dir: string,
  dirKey: string,
  prefix: string,
  signal?: AbortSignal,
): AsyncGenerator<ObjectInfo> {
  let dirents: Dirent[];
  try {
    dirents = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (hasCode(err, 'ENOENT', 'ENOTDIR')) return;
    throw err;
  }
  const entries: Entry[] = dirents
    .filter((d) => (d.isFile() || d.isDirectory()) && !d.name.endsWith(PARTIAL_SUFFIX))
    .filter((d) => keySegmentProblem(d.name) === undefined)
    .map((d) => ({
      name: d.name,
      isDir: d.isDirectory(),
      order: Buffer.from(d.isDirectory() ? `${d.name}/` : d.name, 'utf8'),
    }))
    .sort((a, b) => Buffer.compare(a.order, b.order));

  for (const entry of entries) {
    signal?.throwIfAborted();
    const key = dirKey + entry.name;
    const full = path.join(dir, entry.name);
    if (entry.isDir) {
      const sub = `${key}/`;
      if (sub.startsWith(prefix) || prefix.startsWith(sub)) yield* walkObjects(full, sub, prefix, signal);
      continue;
    }
    if (!key.startsWith(prefix)) continue;
    try {
      yield objectInfo(key, await stat(full, { bigint: true }));
    } catch (err) {
      if (hasCode(err, 'ENOENT')) continue; // deleted while listing
      throw err;
    }
  }
}
