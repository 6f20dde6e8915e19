import type { Command } from 'commander';
import { api, tenantPath } from '../api-client.js';
import { positiveNumber } from '../args.js';
import { emit, type JsonOption, note, printTable, withJson } from '../output.js';

interface Endpoint {
  id: string;
  url: string;
  events: string[];
  createdAt: string;
}
interface Delivery {
  eventId: string;
  seq: number;
  type: string;
  status: string;
  attempts: number;
  lastHttpStatus: number | null;
  lastError: string | null;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
}

const hookPath = (tenant: string, id: string, rest = '') =>
  tenantPath(tenant, `webhooks/${encodeURIComponent(id)}${rest ? `/${rest}` : ''}`);

/** `custody webhooks …`: a tenant's webhook endpoints and their delivery log. */
export function webhooksCommand(program: Command): void {
  const hooks = program
    .command('webhooks')
    .description('a tenant’s webhook endpoints and their delivery log (CUSTODY_URL, CUSTODY_TOKEN)');

  withJson(
    hooks
      .command('create')
      .description('register an endpoint; its signing secret is printed once, on stdout')
      .requiredOption('--tenant <id>', 'tenant id')
      .requiredOption('--url <url>', 'https URL that receives the events')
      .option('--event <type...>', 'only these events (default: every event)'),
  ).action(async (opts: JsonOption & { tenant: string; url: string; event?: string[] }) => {
    const e = await api.call<Endpoint & { secret: string }>('POST', tenantPath(opts.tenant, 'webhooks'), {
      json: { url: opts.url, events: opts.event },
    });
    emit(opts, e, () => {
      process.stdout.write(`${e.secret}\n`);
      note(`created ${e.id} for ${e.events.join(' ')}: store the secret now, it is not shown again`);
    });
  });

  withJson(
    hooks.command('list').description('the tenant’s endpoints').requiredOption('--tenant <id>', 'tenant id'),
  ).action(async (opts: JsonOption & { tenant: string }) => {
    const r = await api.call<{ items: Endpoint[] }>('GET', tenantPath(opts.tenant, 'webhooks'));
    emit(opts, r, () =>
      printTable(
        ['ID', 'URL', 'EVENTS', 'CREATED'],
        r.items.map((e) => [e.id, e.url, e.events.join(','), e.createdAt]),
      ),
    );
  });

  hooks
    .command('delete <webhookId>')
    .description('delete an endpoint: no further deliveries')
    .requiredOption('--tenant <id>', 'tenant id')
    .action(async (id: string, opts: { tenant: string }) => {
      await api.call('DELETE', hookPath(opts.tenant, id));
      process.stdout.write(`deleted ${id}\n`);
    });

  withJson(
    hooks
      .command('ping <webhookId>')
      .description('queue a signed webhook.ping test delivery')
      .requiredOption('--tenant <id>', 'tenant id'),
  ).action(async (id: string, opts: JsonOption & { tenant: string }) => {
    const r = await api.call<{ eventId: string }>('POST', hookPath(opts.tenant, id, 'ping'));
    emit(opts, r, () => process.stdout.write(`queued ${r.eventId}\n`));
  });

  withJson(
    hooks
      .command('deliveries <webhookId>')
      .description('the delivery log, newest first')
      .requiredOption('--tenant <id>', 'tenant id')
      .option('--limit <n>', 'at most n (1-100, default 50)', positiveNumber('--limit', true))
      .option('--cursor <cursor>', 'continue after a previous page'),
  ).action(async (id: string, opts: JsonOption & { tenant: string; limit?: number; cursor?: string }) => {
    const page = await api.call<{ items: Delivery[]; nextCursor?: string }>(
      'GET',
      hookPath(opts.tenant, id, 'deliveries'),
      { query: { limit: opts.limit, cursor: opts.cursor } },
    );
    emit(opts, page, () => {
      printTable(
        ['SEQ', 'TYPE', 'STATUS', 'ATTEMPTS', 'HTTP', 'ERROR', 'NEXT', 'DELIVERED'],
        page.items.map((d) => [
          d.seq,
          d.type,
          d.status,
          d.attempts,
          d.lastHttpStatus,
          d.lastError,
          d.nextAttemptAt,
          d.deliveredAt,
        ]),
      );
      if (page.nextCursor) note(`more: --cursor ${page.nextCursor}`);
    });
  });
}
