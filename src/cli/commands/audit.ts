import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Command } from 'commander';
import { type AuditEntry, chainHash, GENESIS_HASH } from '../../domain/audit.js';
import type { VerifyReport } from '../../domain/audit-verify.js';

/** Exit code for a chain that does not verify (distinct from usage and network errors). */
const BROKEN = 3;

function server(): { base: string; token: string } {
  const base = process.env.CUSTODY_URL;
  const token = process.env.CUSTODY_TOKEN;
  if (!base || !token) throw new Error('set CUSTODY_URL and CUSTODY_TOKEN');
  return { base, token };
}

async function get(path: string, query: Record<string, string | undefined> = {}): Promise<Response> {
  const { base, token } = server();
  const url = new URL(path, base);
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) {
    const detail = (await res.json().catch(() => undefined)) as { detail?: string } | undefined;
    throw new Error(
      `GET ${url.pathname} answered ${res.status}${detail?.detail ? `: ${detail.detail}` : ''}`,
    );
  }
  return res;
}

const tenantPath = (tenant: string, rest: string) => `/v1/tenants/${encodeURIComponent(tenant)}/${rest}`;

/** The same report whichever side verified: `ok: …` on stdout, or where it breaks on stderr. */
function report(
  r: Pick<VerifyReport, 'ok' | 'checked' | 'head' | 'firstBroken' | 'checkpoint' | 'checkpointError'>,
) {
  if (r.firstBroken) {
    process.stderr.write(`chain broken at seq ${r.firstBroken.seq} (${r.firstBroken.reason})\n`);
    process.exitCode = BROKEN;
  } else if (r.checkpointError) {
    process.stderr.write(`checkpoint not readable: ${r.checkpointError}\n`);
    process.exitCode = BROKEN;
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
async function verifyHere(tenant: string): Promise<void> {
  let previous = GENESIS_HASH;
  let expected = 1;
  let cursor: string | undefined;
  do {
    const res = await get(tenantPath(tenant, 'audit'), { limit: '1000', cursor });
    const page = (await res.json()) as { items: AuditEntry[]; nextCursor?: string };
    for (const { hash, ...entry } of page.items) {
      const reason =
        entry.seq !== expected
          ? 'seq-gap'
          : chainHash(previous, entry) !== hash
            ? 'hash-mismatch'
            : undefined;
      if (reason) {
        const head = { seq: expected - 1, hash: previous };
        report({ ok: false, checked: expected - 1, head, firstBroken: { seq: expected, reason } });
        return;
      }
      previous = hash;
      expected += 1;
    }
    cursor = page.nextCursor;
  } while (cursor);
  report({ ok: true, checked: expected - 1, head: { seq: expected - 1, hash: previous } });
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
  audit
    .command('verify')
    .description('re-check a tenant’s hash chain through the API (CUSTODY_URL, CUSTODY_TOKEN)')
    .requiredOption('--tenant <id>', 'tenant id')
    .option('--server', 'let the service walk the chain and compare it with the tenant’s checkpoints')
    .action(async (opts: { tenant: string; server?: boolean }) => {
      if (!opts.server) return verifyHere(opts.tenant);
      const res = await get(tenantPath(opts.tenant, 'audit/verify'));
      report((await res.json()) as VerifyReport);
    });
  audit
    .command('export')
    .description('write a tenant’s audit entries as JSON Lines, re-checking them on the way')
    .requiredOption('--tenant <id>', 'tenant id')
    .option('--from <time>', 'first entry time, inclusive (ISO 8601)')
    .option('--to <time>', 'end time, exclusive (ISO 8601)')
    .requiredOption('-o, --output <file>', 'where to write the entries')
    .action(async (opts: { tenant: string; from?: string; to?: string; output: string }) => {
      const res = await get(tenantPath(opts.tenant, 'audit/export'), { from: opts.from, to: opts.to });
      const anchor = res.headers.get('custody-audit-previous-hash') ?? '';
      const anchorSeq = Number(res.headers.get('custody-audit-previous-seq'));
      const expected = Number(res.headers.get('custody-audit-entries'));
      if (!/^[0-9a-f]{64}$/.test(anchor) || !Number.isInteger(anchorSeq) || !res.body)
        throw new Error('the export has no chain anchor');
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
