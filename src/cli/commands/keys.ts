import { setTimeout as delay } from 'node:timers/promises';
import { type Command, InvalidArgumentError } from 'commander';
import { type JobProgress, progressLine, progressWriter } from '../job-progress.js';

/** Exit codes of `--wait`: the job failed for some recordings, or was cancelled. */
const EXIT_FAILED = 2;
const EXIT_CANCELLED = 3;
const POLL_MS = 500;

interface JobView extends JobProgress {
  error?: string;
  failures?: { recordingId: string; code: string; message: string }[];
}

async function call(method: string, path: string, body?: unknown): Promise<JobView> {
  const base = process.env.CUSTODY_URL;
  const token = process.env.CUSTODY_TOKEN;
  if (!base || !token) throw new Error('set CUSTODY_URL and CUSTODY_TOKEN');
  const res = await fetch(new URL(path, base), {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) {
    let detail = text;
    try {
      const problem = JSON.parse(text) as { code?: string; detail?: string };
      detail = `${problem.code}: ${problem.detail}`;
    } catch {}
    throw new Error(`${method} ${path} answered ${res.status} ${detail}`);
  }
  return JSON.parse(text) as JobView;
}

const jobsPath = (tenant: string) => `/v1/tenants/${encodeURIComponent(tenant)}/key-jobs`;

/** Polls the job and draws its progress until it ends; sets the exit code from how it ended. */
async function watch(tenant: string, first: JobView): Promise<void> {
  const out = progressWriter();
  const started = Date.now();
  const doneAtStart = first.done + first.failed + first.skipped;
  let job = first;
  const line = () => progressLine(job, (Date.now() - started) / 1000, doneAtStart);
  while (job.status === 'running') {
    out.update(line());
    await delay(POLL_MS);
    job = await call('GET', `${jobsPath(tenant)}/${encodeURIComponent(job.id)}`);
  }
  out.end(line());
  process.stdout.write(`${job.id} ${job.status}${job.error ? `: ${job.error}` : ''}\n`);
  for (const f of job.failures ?? []) process.stderr.write(`  ${f.recordingId}: ${f.code} ${f.message}\n`);
  if (job.status === 'failed') process.exitCode = EXIT_FAILED;
  if (job.status === 'cancelled') process.exitCode = EXIT_CANCELLED;
}

function positiveNumber(name: string, integer: boolean) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
      throw new InvalidArgumentError(`${name} must be a positive ${integer ? 'integer' : 'number'}`);
    }
    return n;
  };
}

const KINDS = {
  rewrap: 'put every recording’s data key under the target version’s key (audio untouched)',
  reencrypt: 'give recordings a fresh data key (a suspected data-key compromise)',
  migrate: 'copy recordings to the target version’s storage, then retire the old copies',
} as const;

/** `custody keys rewrap|reencrypt|migrate|status|cancel`: key rotation and storage switch jobs through the API. */
export function keysCommand(program: Command): void {
  const keys = program
    .command('keys')
    .description('key rotation and storage switch jobs (CUSTODY_URL, CUSTODY_TOKEN)');
  for (const [kind, description] of Object.entries(KINDS)) {
    const cmd = keys
      .command(kind)
      .description(description)
      .requiredOption('--tenant <id>', 'tenant id')
      .option(
        '--target-version <n>',
        'storage version to move to (default: the active one)',
        positiveNumber('--target-version', true),
      )
      .option('--rate <r>', 'recordings per second (default 10)', positiveNumber('--rate', false))
      .option('--wait', 'follow the job with a progress bar until it ends');
    if (kind === 'reencrypt') cmd.option('--recording <id...>', 'only these recordings');
    cmd.action(
      async (opts: {
        tenant: string;
        targetVersion?: number;
        rate?: number;
        wait?: boolean;
        recording?: string[];
      }) => {
        const job = await call('POST', jobsPath(opts.tenant), {
          kind,
          ...(opts.targetVersion ? { targetVersion: opts.targetVersion } : {}),
          ...(opts.rate ? { ratePerSecond: opts.rate } : {}),
          ...(opts.recording ? { recordingIds: opts.recording } : {}),
        });
        if (opts.wait) return watch(opts.tenant, job);
        process.stdout.write(`${job.id} ${job.status} (${job.total} recordings)\n`);
      },
    );
  }
  keys
    .command('status <jobId>')
    .description('show a key job’s progress')
    .requiredOption('--tenant <id>', 'tenant id')
    .option('--wait', 'follow it until it ends')
    .action(async (jobId: string, opts: { tenant: string; wait?: boolean }) => {
      const job = await call('GET', `${jobsPath(opts.tenant)}/${encodeURIComponent(jobId)}`);
      if (opts.wait) return watch(opts.tenant, job);
      process.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
    });
  keys
    .command('cancel <jobId>')
    .description('cancel a running key job')
    .requiredOption('--tenant <id>', 'tenant id')
    .action(async (jobId: string, opts: { tenant: string }) => {
      const job = await call('POST', `${jobsPath(opts.tenant)}/${encodeURIComponent(jobId)}/cancel`);
      process.stdout.write(`${job.id} ${job.status}\n`);
    });
}
