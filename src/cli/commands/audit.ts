import type { Command } from 'commander';
import { type AuditEntry, GENESIS_HASH, verifyChain } from '../../domain/audit.js';

/** Re-checks a tenant's audit chain from the API alone, page by page. */
export function auditCommand(program: Command): void {
  const audit = program.command('audit').description('audit trail tools');
  audit
    .command('verify')
    .description('re-check a tenant’s hash chain through the API (CUSTODY_URL, CUSTODY_TOKEN)')
    .requiredOption('--tenant <id>', 'tenant id')
    .action(async (opts: { tenant: string }) => {
      const base = process.env.CUSTODY_URL;
      const token = process.env.CUSTODY_TOKEN;
      if (!base || !token) throw new Error('set CUSTODY_URL and CUSTODY_TOKEN');
      let previous = GENESIS_HASH;
      let nextSeq = 1;
      let cursor: string | undefined;
      do {
        const url = new URL(`/v1/tenants/${encodeURIComponent(opts.tenant)}/audit`, base);
        url.searchParams.set('limit', '1000');
        if (cursor) url.searchParams.set('cursor', cursor);
        const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
        if (!res.ok) throw new Error(`GET ${url.pathname} answered ${res.status}`);
        const page = (await res.json()) as { items: AuditEntry[]; nextCursor?: string };
        const bad = verifyChain(page.items, previous, nextSeq);
        if (bad !== undefined) {
          process.stderr.write(`chain broken at seq ${bad}\n`);
          process.exitCode = 3;
          return;
        }
        const last = page.items[page.items.length - 1];
        if (last) {
          previous = last.hash;
          nextSeq = last.seq + 1;
        }
        cursor = page.nextCursor;
      } while (cursor);
      process.stdout.write(`ok: ${nextSeq - 1} entries, head ${previous}\n`);
    });
}
