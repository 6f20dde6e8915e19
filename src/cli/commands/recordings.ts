import { type Command, Option } from 'commander';
import type { RecordingView } from '../../domain/recordings/view.js';
import { api, CliError, recordingPath } from '../api-client.js';
import { positiveNumber } from '../args.js';
import { emit, type JsonOption, note, printFields, printTable, withJson } from '../output.js';

/** What the API returns for a recording (the JSON of the service's own view). */
type Recording = RecordingView;

const STATUSES = ['queued', 'transferring', 'stored', 'blocked', 'failed', 'deleting', 'deleted'];

function showRecording(r: Recording): void {
  printFields([
    ['id', r.id],
    ['tenant', r.tenantId],
    ['status', r.status],
    ['error', r.error ? `${r.error.code}: ${r.error.message}` : undefined],
    ['call', r.callId],
    ['agent', r.agentId],
    ['direction', r.direction],
    ['started', r.startedAt],
    ['type', r.contentType],
    ['size', r.size],
    ['sha256', r.sha256],
    ['received', r.createdAt],
    ['stored', r.storedAt],
    ['expires', r.expiresAt],
    ['legal hold', r.legalHold ? `on${r.legalHoldReason ? ` (${r.legalHoldReason})` : ''}` : 'off'],
    ['location', r.storage?.location],
    ['storage', r.storage ? `version ${r.storage.storageVersion} (${r.storage.provider})` : undefined],
    ['key', r.storage?.keyId],
  ]);
}

/** One line after a state change: `<id> <status>`. */
const changed = (opts: JsonOption, r: Recording, extra = '') =>
  emit(opts, r, () => process.stdout.write(`${r.id} ${r.status}${extra}\n`));

/**
 * `custody recordings …`. These routes take a tenant API key in `CUSTODY_TOKEN`: the
 * operator cannot act on recording content (403).
 */
export function recordingsCommand(program: Command): void {
  const recs = program
    .command('recordings')
    .description('read, link, hold, retry and delete recordings (CUSTODY_TOKEN: a tenant API key)');

  withJson(recs.command('get <id>').description('a recording’s status and metadata')).action(
    async (id: string, opts: JsonOption) => {
      const r = await api.call<Recording>('GET', recordingPath(id));
      emit(opts, r, () => showRecording(r));
    },
  );

  withJson(
    recs
      .command('list')
      .description('the key’s tenant’s recordings, newest first')
      .addOption(new Option('--status <status>', 'only this status').choices(STATUSES))
      .option('--call-id <id>', 'only this call')
      .option('--limit <n>', 'at most n (1-100, default 50)', positiveNumber('--limit', true))
      .option('--cursor <cursor>', 'continue after a previous page'),
  ).action(
    async (opts: JsonOption & { status?: string; callId?: string; limit?: number; cursor?: string }) => {
      const page = await api.call<{ items: Recording[]; nextCursor?: string }>('GET', '/v1/recordings', {
        query: { status: opts.status, callId: opts.callId, limit: opts.limit, cursor: opts.cursor },
      });
      emit(opts, page, () => {
        printTable(
          ['ID', 'STATUS', 'CALL', 'SIZE', 'RECEIVED', 'HOLD'],
          page.items.map((r) => [r.id, r.status, r.callId, r.size, r.createdAt, r.legalHold ? 'on' : '']),
        );
        if (page.nextCursor) note(`more: --cursor ${page.nextCursor}`);
      });
    },
  );

  withJson(
    recs
      .command('link <id>')
      .description('a signed, time-bounded playback URL (printed on stdout)')
      .option('--ttl <seconds>', 'lifetime, 1-86400 (default 900)', positiveNumber('--ttl', true))
      .option('--on-behalf-of <who>', 'the person the link is for (audited)'),
  ).action(async (id: string, opts: JsonOption & { ttl?: number; onBehalfOf?: string }) => {
    const link = await api.call<{ url: string; expiresAt: string }>(
      'POST',
      recordingPath(id, 'playback-link'),
      {
        json: { ttlSeconds: opts.ttl, onBehalfOf: opts.onBehalfOf },
      },
    );
    emit(opts, link, () => {
      process.stdout.write(`${link.url}\n`);
      note(`expires ${link.expiresAt}`);
    });
  });

  withJson(
    recs.command('delete <id>').description('delete a recording everywhere (refused under legal hold)'),
  ).action(async (id: string, opts: JsonOption) => {
    changed(opts, await api.call<Recording>('DELETE', recordingPath(id)));
  });

  withJson(
    recs
      .command('hold <id>')
      .description('place (--on) or release (--off) a legal hold')
      .addOption(new Option('--on', 'place a hold').conflicts('off'))
      .addOption(new Option('--off', 'release the hold').conflicts('on'))
      .option('--reason <text>', 'why (audited)'),
  ).action(async (id: string, opts: JsonOption & { on?: boolean; off?: boolean; reason?: string }) => {
    if (!opts.on && !opts.off) throw new CliError('give --on or --off', 1);
    const r = await api.call<Recording>('PUT', recordingPath(id, 'legal-hold'), {
      json: { hold: opts.on === true, reason: opts.reason },
    });
    changed(opts, r, `, legal hold ${r.legalHold ? 'on' : 'off'}`);
  });

  withJson(recs.command('retry <id>').description('retry a blocked recording now')).action(
    async (id: string, opts: JsonOption) => {
      changed(opts, await api.call<Recording>('POST', recordingPath(id, 'retry')));
    },
  );
}
