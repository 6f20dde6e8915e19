import { readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Context } from '../context.js';

const STALE_MS = 60 * 60 * 1000;

/**
 * Removes spool leftovers no row refers to: an `.incoming` upload whose process died
 * mid-request, or a `.spool` file renamed into place just before a crash prevented its
 * row from being written. Only files older than an hour are touched, so an upload in
 * progress on another API pod sharing the volume is never removed.
 */
export async function sweepSpool(ctx: Context, now = Date.now()): Promise<number> {
  let removed = 0;
  let tenants: string[];
  try {
    tenants = await readdir(ctx.spool.dir);
  } catch {
    return 0;
  }
  for (const tenant of tenants) {
    const dir = path.join(ctx.spool.dir, tenant);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const full = path.join(dir, name);
      const info = await stat(full).catch(() => undefined);
      if (!info?.isFile() || now - info.mtimeMs < STALE_MS) continue;
      if (name.endsWith('.spool')) {
        const referenced = await ctx.db.query('SELECT 1 FROM recordings WHERE spool_file = $1', [
          path.join(tenant, name),
        ]);
        if (referenced.rowCount) continue;
      } else if (!name.endsWith('.incoming')) continue;
      await unlink(full).catch(() => {});
      removed += 1;
    }
  }
  if (removed) ctx.log.info({ removed }, 'removed stale spool leftovers');
  return removed;
}
