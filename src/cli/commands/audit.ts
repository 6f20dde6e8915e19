import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Command } from 'commander';
import { type AuditEntry, chainHash, GENESIS_HASH } from '../../domain/audit.js';
import type { VerifyReport } from '../../domain/audit-verify.js';
import { api, CliError, tenantPath } from '../api-client.js';
import { type JsonOption, printJson, withJson } from '../output.js';

/** Exit code for a chain that does not verify (distinct from usage and network errors). */
const BROKEN = 3;

type Report = Pick<
  VerifyReport,
  'ok' | 'checked' | 'head' | 'firstBroken' | 'checkpoint' | 'checkpointError'
>;

/**
 * The same report whichever side verified: `ok: …` on stdout, or where it breaks on
 * stderr; with `--json` the report itself on stdout. Exit 3 unless it verified.
 */
function report(r: Report, json?: boolean) {
  if (r.firstBroken || r.checkpointError) process.exitCode = BROKEN;
  if (json) return printJson(r);
  if (r.firstBroken) {
    process.stderr.write(`chain broken at seq ${r.firstBroken.seq} (${r.firstBroken.reason})\n`);
  } else if (r.checkpointError) {
    process.stderr.write(`checkpoint not readable: ${r.checkpointError}\n`);
  } else {
    process.stdout.write(`ok: ${r.checked} entries, head ${r.head.hash}\n`);
  }
  if (r.checkpoint) {
    const { seq, hash, at, matches } = r.checkpoint;
    process.stdout.write(
      `checkpoint: seq ${seq} at ${at}, hash ${hash}, ${matches ? 'matches' : 'DOES NOT match'}\n`,
    );
  }
}

/** Client side: pages through the audit API and re-computes every hash here (stops at the first break). */
async function verifyHere(tenant: string): Promise<Report> {
  let previous = GENESIS_HASH;
  let expected = 1;
  let cursor: string | undefined;
  do {
    const page = await api.call<{ items: AuditEntry[]; nextCursor?: string }>(
      'GET',
      tenantPath(tenant, 'audit'),
      {
        query: { limit: 1000, cursor },
      },
    );
    for (const { hash, ...entry } of page.items) {
      const reason =
        entry.seq !== expected
          ? 'seq-gap'
          : chainHash(previous, entry) !== hash
            ? 'hash-mismatch'
            : undefined;
      if (reason) {
        const head = { seq: expected - 1, hash: previous };
        return { ok: false, checked: expected - 1, head, firstBroken: { seq: expected, reason } };
      }
      previous = hash;
      expected += 1;
    }
    cursor = page.nextCursor;
  } while (cursor);
  return { ok: true, checked: expected - 1, head: { seq: expected - 1, hash: previous } };
}

/** Re-checks each exported line against the anchor header while it streams to the file. */
function chainChecker(anchor: string, anchorSeq: number) {
  let previous = anchor;
  let expectedSeq = anchorSeq + 1;
  let partial = '';
  const state = {
    count: 0,
    firstSeq: undefined as number | undefined,
    broken: undefined as number | undefined,
  };
  const check = (line: string) => {
    if (line === '') return;
    const { hash, ...entry } = JSON.parse(line) as AuditEntry;
    state.count += 1;
    state.firstSeq ??= entry.seq;
    if (state.broken === undefined && (entry.seq !== expectedSeq || chainHash(previous, entry) !== hash))
      state.broken = entry.seq;
    previous = hash;
    expectedSeq = entry.seq + 1;
  };
  const transform = new Transform({
    transform(chunk: Buffer, _enc, done) {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      try {
        for (const line of lines) check(line);
        done(null, chunk);
      } catch (err) {
        done(err as Error);
      }
    },
    flush(done) {
      try {
        check(partial);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
  return { transform, state };
}

/** Audit trail tools over the API (`CUSTODY_URL`, `CUSTODY_TOKEN`). */
export function auditCommand(program: Command): void {
  const audit = program.command('audit').description('audit trail tools');
  withJson(
    audit
      .command('verify')
      .description('re-check a tenant’s hash chain through the API (CUSTODY_URL, CUSTODY_TOKEN)')
      .requiredOption('--tenant <id>', 'tenant id')
      .option('--server', 'let the service walk the chain and compare it with the tenant’s checkpoints'),
  ).action(async (opts: JsonOption & { tenant: string; server?: boolean }) => {
    const r = opts.server
      ? await api.call<VerifyReport>('GET', tenantPath(opts.tenant, 'audit/verify'))
      : await verifyHere(opts.tenant);
    report(r, opts.json);
  });
  audit
    .command('export')
    .description('write a tenant’s audit entries as JSON Lines, re-checking them on the way')
    .requiredOption('--tenant <id>', 'tenant id')
    .option('--from <time>', 'first entry time, inclusive (ISO 8601)')
    .option('--to <time>', 'end time, exclusive (ISO 8601)')
    .requiredOption('-o, --output <file>', 'where to write the entries')
    .action(async (opts: { tenant: string; from?: string; to?: string; output: string }) => {
      // No timeout: the body streams for as long as the chain is.
      const res = await api.fetch('GET', tenantPath(opts.tenant, 'audit/export'), {
        query: { from: opts.from, to: opts.to },
        timeoutMs: 0,
      });
      const anchor = res.headers.get('custody-audit-previous-hash') ?? '';
      const anchorSeq = Number(res.headers.get('custody-audit-previous-seq'));
      const expected = Number(res.headers.get('custody-audit-entries'));
      if (!/^[0-9a-f]{64}$/.test(anchor) || !Number.isInteger(anchorSeq) || !res.body)
        throw new CliError('the export has no chain anchor', 1);
      const { transform, state } = chainChecker(anchor, anchorSeq);
      await pipeline(
        Readable.fromWeb(res.body as WebReadableStream<Uint8Array>),
        transform,
        createWriteStream(opts.output, { mode: 0o600 }),
      );
      if (state.count !== expected) {
        process.stderr.write(`export cut off: ${state.count} of ${expected} entries\n`);
        process.exitCode = BROKEN;
      } else if (state.broken !== undefined) {
        process.stderr.write(`chain broken at seq ${state.broken}\n`);
        process.exitCode = BROKEN;
      }
      process.stdout.write(
        `exported ${state.count} entries${state.firstSeq ? ` from seq ${state.firstSeq}` : ''}, previous hash ${anchor}\n`,
      );
    });
}
