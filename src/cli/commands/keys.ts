import { setTimeout as delay } from 'node:timers/promises';
import type { Command } from 'commander';
import { api, tenantPath } from '../api-client.js';
import { positiveNumber } from '../args.js';
import { type JobProgress, progressLine, progressWriter } from '../job-progress.js';
import { emit, type JsonOption, printJson, printTable, withJson } from '../output.js';

/** Exit codes of `--wait`: the job failed for some recordings, or was cancelled. */
const EXIT_FAILED = 2;
const EXIT_CANCELLED = 3;
const POLL_MS = 500;

interface JobView extends JobProgress {
  error?: string;
  failures?: { recordingId: string; code: string; message: string }[];
}

const call = (method: string, path: string, body?: unknown) =>
  api.call<JobView>(method, path, { json: body });

const jobsPath = (tenant: string) => tenantPath(tenant, 'key-jobs');

/** Polls the job and draws its progress until it ends; sets the exit code from how it ended. */
async function watch(tenant: string, first: JobView, json = false): Promise<void> {
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
  if (json) printJson(job);
  else process.stdout.write(`${job.id} ${job.status}${job.error ? `: ${job.error}` : ''}\n`);
  for (const f of job.failures ?? []) process.stderr.write(`  ${f.recordingId}: ${f.code} ${f.message}\n`);
  if (job.status === 'failed') process.exitCode = EXIT_FAILED;
  if (job.status === 'cancelled') process.exitCode = EXIT_CANCELLED;
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
    const cmd = withJson(keys.command(kind))
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
      async (
        opts: JsonOption & {
          tenant: string;
          targetVersion?: number;
          rate?: number;
          wait?: boolean;
          recording?: string[];
        },
      ) => {
        const job = await call('POST', jobsPath(opts.tenant), {
          kind,
          ...(opts.targetVersion ? { targetVersion: opts.targetVersion } : {}),
          ...(opts.rate ? { ratePerSecond: opts.rate } : {}),
          ...(opts.recording ? { recordingIds: opts.recording } : {}),
        });
        if (opts.wait) return watch(opts.tenant, job, opts.json);
        if (opts.json) printJson(job);
        else process.stdout.write(`${job.id} ${job.status} (${job.total} recordings)\n`);
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
      printJson(job);
    });
  withJson(
    keys
      .command('cancel <jobId>')
      .description('cancel a running key job')
      .requiredOption('--tenant <id>', 'tenant id'),
  ).action(async (jobId: string, opts: JsonOption & { tenant: string }) => {
    const job = await call('POST', `${jobsPath(opts.tenant)}/${encodeURIComponent(jobId)}/cancel`);
    if (opts.json) printJson(job);
    else process.stdout.write(`${job.id} ${job.status}\n`);
  });
  withJson(
    keys
      .command('list')
      .description('the tenant’s key jobs, newest first')
      .requiredOption('--tenant <id>', 'tenant id'),
  ).action(async (opts: JsonOption & { tenant: string }) => {
    const r = await api.call<{ items: JobView[] }>('GET', jobsPath(opts.tenant));
    emit(opts, r, () =>
      printTable(
        ['ID', 'KIND', 'STATUS', 'TOTAL', 'DONE', 'FAILED', 'SKIPPED'],
        r.items.map((j) => [j.id, j.kind, j.status, j.total, j.done, j.failed, j.skipped]),
      ),
    );
  });
}
