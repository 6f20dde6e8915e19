import type { Command } from 'commander';
import { api, tenantPath } from '../api-client.js';
import { emit, type JsonOption, note, printTable, withJson } from '../output.js';

interface ApiKey {
  id: string;
  name: string;
  scopes: string[];
  expiresAt: string | null;
  revokedAt: string | null;
  createdAt: string;
}

/** `custody api-keys …`: tenant API keys (operator token or a `tenant:admin` key). */
export function apiKeysCommand(program: Command): void {
  const keys = program
    .command('api-keys')
    .description('create, list and revoke a tenant’s API keys (CUSTODY_URL, CUSTODY_TOKEN)');

  withJson(
    keys
      .command('create')
      .description('create a key; its secret is printed once, on stdout')
      .requiredOption('--tenant <id>', 'tenant id')
      .requiredOption('--name <name>', 'what the key is for')
      .requiredOption(
        '--scope <scope...>',
        'tenant:admin, recordings:write, recordings:read, recordings:delete (one or more)',
      )
      .option('--expires-at <time>', 'RFC 3339 time after which the key stops working'),
  ).action(
    async (opts: JsonOption & { tenant: string; name: string; scope: string[]; expiresAt?: string }) => {
      const k = await api.call<ApiKey & { key: string }>('POST', tenantPath(opts.tenant, 'api-keys'), {
        json: { name: opts.name, scopes: opts.scope, expiresAt: opts.expiresAt },
      });
      // The secret alone on stdout (`KEY=$(custody api-keys create …)`); the rest is a note.
      emit(opts, k, () => {
        process.stdout.write(`${k.key}\n`);
        note(
          `created ${k.id} (${k.scopes.join(' ')}${k.expiresAt ? `, expires ${k.expiresAt}` : ''}): store the key now, it is not shown again`,
        );
      });
    },
  );

  withJson(
    keys
      .command('list')
      .description('list a tenant’s keys (never their secrets)')
      .requiredOption('--tenant <id>', 'tenant id'),
  ).action(async (opts: JsonOption & { tenant: string }) => {
    const r = await api.call<{ items: ApiKey[] }>('GET', tenantPath(opts.tenant, 'api-keys'));
    emit(opts, r, () =>
      printTable(
        ['ID', 'NAME', 'SCOPES', 'EXPIRES', 'REVOKED', 'CREATED'],
        r.items.map((k) => [k.id, k.name, k.scopes.join(','), k.expiresAt, k.revokedAt, k.createdAt]),
      ),
    );
  });

  keys
    .command('revoke <keyId>')
    .description('revoke a key, effective immediately')
    .requiredOption('--tenant <id>', 'tenant id')
    .action(async (keyId: string, opts: { tenant: string }) => {
      await api.call('DELETE', tenantPath(opts.tenant, `api-keys/${encodeURIComponent(keyId)}`));
      process.stdout.write(`revoked ${keyId}\n`);
    });
}
