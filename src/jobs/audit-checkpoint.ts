import type { Context } from '../context.js';
import { writeDueCheckpoints } from '../domain/audit-checkpoints.js';

export interface CheckpointTimer {
  close(): Promise<void>;
}

/**
 * Writes audit checkpoints on a timer in every worker process (like the reconciler: no
 * Redis-held schedule to lose). The first pass waits for what is left of the interval
 * since the last checkpoint recorded in PostgreSQL, so frequent restarts neither skip
 * checkpoints nor write a burst of them. Two workers writing the same checkpoint is
 * harmless: same key, same content, and the table keeps the higher seq.
 */
export async function startAuditCheckpoints(ctx: Context): Promise<CheckpointTimer> {
  const every = ctx.config.worker.auditCheckpointIntervalMs;
  let closed = false;
  let running = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;

  const pass = async () => {
    try {
      const { written, failed } = await writeDueCheckpoints(ctx);
      if (written || failed) ctx.log.info({ written, failed }, 'audit checkpoints');
    } catch (err) {
      ctx.log.warn({ err: (err as Error).message }, 'audit checkpoint pass deferred');
    }
  };
  const schedule = (ms: number) => {
    if (closed) return;
    timer = setTimeout(() => {
      running = running.then(pass).then(() => schedule(every));
    }, ms);
    timer.unref();
  };

  let sinceLast = 0;
  try {
    const r = await ctx.db.query<{ at: Date | null }>('SELECT max(at) AS at FROM audit_checkpoints');
    sinceLast = r.rows[0]?.at ? Date.now() - r.rows[0].at.getTime() : 0;
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message }, 'audit checkpoints: last run unknown');
  }
  schedule(Math.min(every, Math.max(0, every - sinceLast)));

  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      await running;
    },
  };
}
